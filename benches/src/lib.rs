//! Criterion benches comparing magpie with tokio, smol's async-executor and
//! the primitive crates. Run with `cargo bench -p magpie-benches`.

pub mod charts;
