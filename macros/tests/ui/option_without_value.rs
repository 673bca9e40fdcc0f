#[magpie::main(debug)]
async fn main() {}
