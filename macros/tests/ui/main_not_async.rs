#[magpie::main]
fn main() {
    println!("hello");
}
