//! Fair, cancellation-safe, runtime-agnostic async synchronisation primitives.
//!
//! (The primitives themselves land with issue 3.)

#[doc(hidden)]
pub mod loom;
