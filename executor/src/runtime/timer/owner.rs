//! Whose timer driver a `Sleep` registers with: the runtime entered on
//! this thread, or the simulation running on it (`runtime::sim`), which is
//! looked at first.

use super::{Driver, Kick};
use crate::runtime::{Handle, context};

/// The owner of the driver a timer is filed in, kept by the timer so that
/// its later polls, resets and its drop reach the same wheel.
pub(crate) enum TimerOwner {
    /// A runtime's driver.
    Runtime(Handle),
    /// A simulation's driver, on its virtual clock.
    #[cfg(not(loom))]
    Sim(crate::runtime::sim::SimTimers),
}

impl TimerOwner {
    /// The simulation running on this thread, else the runtime entered on
    /// it.
    pub(crate) fn current() -> Option<TimerOwner> {
        #[cfg(not(loom))]
        if let Some(sim) = crate::runtime::sim::current_timers() {
            return Some(TimerOwner::Sim(sim));
        }
        context::current_handle().map(TimerOwner::Runtime)
    }

    pub(crate) fn driver(&self) -> &Driver {
        match self {
            TimerOwner::Runtime(handle) => &handle.shared.time,
            #[cfg(not(loom))]
            TimerOwner::Sim(sim) => sim.driver(),
        }
    }

    /// Wakes whoever must see a new, earlier deadline. A simulation needs
    /// no kick: its loop looks at the wheel whenever no task can run.
    pub(crate) fn kick(&self, kick: Kick) {
        match self {
            TimerOwner::Runtime(handle) => handle.shared.kick_timer(kick),
            #[cfg(not(loom))]
            TimerOwner::Sim(_) => {}
        }
    }
}
