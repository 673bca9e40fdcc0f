//! [`Barrier`]: asyncio's `Barrier`.

use core::fmt;
use core::task::{Context, Poll, ready};

use crate::coop;
use crate::wait_list::{Status, WaitList, WaitOp, Waiter, wait_future};

/// A meeting point for a fixed number of tasks (asyncio's `Barrier`).
///
/// Each of `parties` tasks calls [`wait`](Barrier::wait); the first
/// `parties - 1` wait, and the last to arrive releases them all and is the
/// *leader* ([`BarrierWaitResult::is_leader`]). The barrier then resets:
/// it can be used again, generation after generation.
///
/// # Cancellation
///
/// A waiting task whose [`BarrierWait`] is dropped before the barrier
/// trips withdraws: it no longer counts as arrived, and the barrier waits
/// for another task in its place. Once the barrier has tripped, dropping
/// the future changes nothing (it had arrived).
///
/// # Examples
///
/// ```
/// use magpie_sync::Barrier;
///
/// let barrier = Barrier::new(3);
/// futures::executor::block_on(async {
///     let results = futures::future::join_all((0..3).map(|_| barrier.wait())).await;
///     assert_eq!(results.iter().filter(|r| r.is_leader()).count(), 1);
/// });
/// ```
pub struct Barrier {
    parties: usize,
    /// The data: how many have arrived in this generation.
    list: WaitList<usize>,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    ///
    /// If `parties` is 0: such a barrier could never trip.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(magpie_sync::Barrier::new(2).parties(), 2);
    /// ```
    #[track_caller]
    pub fn new(parties: usize) -> Self {
        assert!(
            parties > 0,
            "Barrier::new: a barrier needs at least one party"
        );
        Barrier {
            parties,
            list: WaitList::new(0, 0),
        }
    }

    /// Waits until `parties` tasks are waiting, then releases them all.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = magpie_sync::Barrier::new(1);
    /// let result = futures::executor::block_on(barrier.wait());
    /// assert!(result.is_leader()); // alone, so last to arrive
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait::from_op(Arrive { barrier: self })
    }

    /// The number of tasks needed to trip the barrier.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of tasks waiting now.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = magpie_sync::Barrier::new(2);
    /// assert_eq!(barrier.n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        *self.list.lock().data()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .finish()
    }
}

/// What [`Barrier::wait`] returns.
///
/// # Examples
///
/// ```
/// let barrier = magpie_sync::Barrier::new(1);
/// assert!(futures::executor::block_on(barrier.wait()).is_leader());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this task was the last to arrive, and so released the
    /// others. Exactly one task per generation is the leader.
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

struct Arrive<'a> {
    barrier: &'a Barrier,
}

impl WaitOp for Arrive<'_> {
    type Output = BarrierWaitResult;

    fn poll(&mut self, me: &mut Waiter<'_>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        loop {
            match me.status() {
                Status::Idle => {
                    // A first poll: the budget first, before arriving.
                    let proceed = ready!(coop::poll_proceed(cx));
                    let mut locked = self.barrier.list.lock();
                    let arrived = *locked.data() + 1;
                    if arrived == self.barrier.parties {
                        *locked.data() = 0;
                        locked.notify_all();
                        proceed.made_progress();
                        return Poll::Ready(BarrierWaitResult { leader: true });
                    }
                    *locked.data() = arrived;
                    let linked = locked.enqueue(me, 1, cx.waker(), Some);
                    invariant!(linked);
                    return Poll::Pending;
                }
                Status::Waiting => {
                    let mut locked = self.barrier.list.lock();
                    if let Some(mut mine) = locked.mine(me) {
                        mine.set_waker(cx.waker());
                        return Poll::Pending;
                    }
                }
                Status::Granted | Status::Closed => {
                    me.settle();
                    return Poll::Ready(BarrierWaitResult { leader: false });
                }
            }
        }
    }

    fn cancel(&mut self, me: &mut Waiter<'_>) {
        if me.status() == Status::Waiting {
            let mut locked = self.barrier.list.lock();
            if locked.remove(me).is_some() {
                *locked.data() -= 1;
                return;
            }
        }
        // Released with its generation: it did arrive.
        me.take_grant();
    }
}

wait_future! {
    /// The future returned by [`Barrier::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Barrier, BarrierWait};
    ///
    /// let barrier = Barrier::new(1);
    /// let fut: BarrierWait<'_> = barrier.wait();
    /// assert!(futures::executor::block_on(fut).is_leader());
    /// ```
    pub struct BarrierWait['a]['a](Arrive<'a>) -> BarrierWaitResult;
}
