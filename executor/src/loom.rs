//! The executor's view of the concurrency shim: `magpie_sync::loom` (std and
//! parking_lot normally, loom under `--cfg loom`) plus `CachePadded`.

pub(crate) use magpie_sync::loom::{IS_LOOM, cell, hint, sync, thread, thread_local};

#[cfg(not(loom))]
pub(crate) use crossbeam_utils::CachePadded;

/// Under loom there are no cache lines to pad; keep the same API.
#[cfg(loom)]
#[derive(Debug, Default)]
pub(crate) struct CachePadded<T>(T);

#[cfg(loom)]
impl<T> CachePadded<T> {
    pub(crate) fn new(value: T) -> Self {
        CachePadded(value)
    }
}

#[cfg(loom)]
impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
