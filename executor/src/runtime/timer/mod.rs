//! Timers, the component: the hierarchical timing wheel ([`wheel`]) and
//! the driver that owns it behind a lock and decides who wakes up for the
//! next deadline ([`driver`], whose top explains who drives the wheel and
//! why no deadline is missed). The runtime owns one driver; the futures
//! users await (`magpie::time::sleep`, `timeout`, `interval`) sit above, in
//! `crate::time`, and reach the driver through the runtime's `Handle`, or
//! a simulation's ([`owner`]). A simulation's driver runs on a virtual
//! clock (`Driver::new_virtual`).

mod driver;
mod owner;
mod wheel;

pub(crate) use self::driver::{Driver, Kick};
pub(crate) use self::owner::TimerOwner;
pub(crate) use self::wheel::Key;

/// The current instant for relative deadlines: `Instant::now()`, except
/// under loom, where time is the model's virtual clock, in and outside a
/// runtime (real time would make a model's executions differ, which loom
/// rejects, and would not move while the virtual clock jumps).
#[inline]
pub(crate) fn now() -> std::time::Instant {
    driver::now()
}
