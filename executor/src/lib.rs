//! magpie: a multi-threaded work-stealing async runtime.

pub use magpie_sync as sync;
