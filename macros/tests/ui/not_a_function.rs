#[magpie::main]
struct App;

fn main() {}
