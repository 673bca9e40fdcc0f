//! Loom models of magpie's primitives and scheduler protocols.
//!
//! Every model lives in `tests/`, one file per subject, and only compiles
//! under `RUSTFLAGS="--cfg loom"`.
