//! # magpie
//!
//! A multi-threaded, work-stealing async runtime that speaks Python
//! asyncio's language, with synchronisation primitives model-checked by
//! loom, and that runs inside `loom::model` itself.
//!
//! ```
//! let results = magpie::run(async {
//!     let fetch = magpie::spawn(async { "data fetched" });
//!     let process = magpie::spawn(async { "data processed" });
//!     (fetch.await.unwrap(), process.await.unwrap())
//! });
//! assert_eq!(results, ("data fetched", "data processed"));
//! ```
//!
//! | asyncio | magpie |
//! |---|---|
//! | `asyncio.run(main())` | [`run`], [`Runtime::block_on`] |
//! | `asyncio.create_task(coro)` | [`spawn`], [`Handle::spawn`], [`task::Builder`] |
//! | a task that must stay on one thread (`!Send`) | [`task::LocalSet`], [`task::spawn_local`] |
//! | `Task` | [`task::JoinHandle`] |
//! | `asyncio.sleep(0)` | [`task::yield_now`] |
//! | `asyncio.Lock`, `Event`, `Queue`, ... | [`sync`] |
//!
//! [`sim`] runs the same code deterministically, on one thread, with every
//! scheduling choice taken from a seed and a virtual clock: explore seeds
//! to find a concurrency bug, replay one to fix it (`docs/deterministic.md`).
//!
//! See `docs/architecture.md` for how the scheduler works.

/// `assert!` in debug builds and under loom (whose models run in release
/// mode, where a `debug_assert!` would check nothing), compiled out of
/// other release builds. Protocol invariants are checked with it, so every
/// interleaving a model explores also checks them.
macro_rules! invariant {
    ($($arg:tt)*) => {
        if cfg!(any(debug_assertions, loom)) {
            assert!($($arg)*);
        }
    };
}

/// [`invariant!`] for `assert_eq!`.
#[allow(unused_macros)]
macro_rules! invariant_eq {
    ($($arg:tt)*) => {
        if cfg!(any(debug_assertions, loom)) {
            assert_eq!($($arg)*);
        }
    };
}

mod loom;
#[cfg(all(feature = "net", unix, not(loom)))]
pub mod net;
#[cfg(all(feature = "net", unix, loom))]
#[doc(hidden)]
pub mod net_model;
pub mod runtime;
mod structured;
pub mod task;
mod task_core;
pub mod time;

pub use magpie_macros::{main, test};
pub use magpie_sync as sync;
#[cfg(not(loom))]
pub use runtime::sim;
pub use runtime::{Builder, Handle, Runtime, ShutdownReport, SpawnError, run};
pub use task::{
    JoinHandle, TaskGroup, WaitFor, as_completed, gather, gather_fail_fast, spawn, try_gather,
    try_spawn, wait,
};

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The examples of `docs/asyncio.md`, compiled and run as doc tests.
#[doc = include_str!("../../docs/asyncio.md")]
#[cfg(doctest)]
pub struct AsyncioDoctests;

/// The examples of `docs/diagnostics.md`, compiled and run as doc tests.
#[doc = include_str!("../../docs/diagnostics.md")]
#[cfg(doctest)]
pub struct DiagnosticsDoctests;

/// The examples of `docs/primitives.md` (magpie-sync's guide; its crate is
/// a dependency here, so its snippets compile beside the executor's).
#[doc = include_str!("../../docs/primitives.md")]
#[cfg(doctest)]
pub struct PrimitivesDoctests;

/// `docs/architecture.md`: text diagrams only today; included so that a
/// Rust snippet added later is compiled too.
#[doc = include_str!("../../docs/architecture.md")]
#[cfg(doctest)]
pub struct ArchitectureDoctests;

/// `docs/loom.md` (shell commands and reports today; included as above).
#[doc = include_str!("../../docs/loom.md")]
#[cfg(doctest)]
pub struct LoomDoctests;

/// `docs/soak.md` (shell commands and output today; included as above).
#[doc = include_str!("../../docs/soak.md")]
#[cfg(doctest)]
pub struct SoakDoctests;

/// `docs/benchmarks.md` (shell commands and tables today; included as
/// above).
#[doc = include_str!("../../docs/benchmarks.md")]
#[cfg(doctest)]
pub struct BenchmarksDoctests;

/// The examples of `docs/deterministic.md`, compiled and run as doc tests.
#[doc = include_str!("../../docs/deterministic.md")]
#[cfg(doctest)]
pub struct DeterministicDoctests;

/// The examples of `docs/io.md`, compiled and run as doc tests.
#[doc = include_str!("../../docs/io.md")]
#[cfg(doctest)]
pub struct IoDoctests;
