//! Who gets a released resource: the fairness policies.

/// How a primitive hands out a resource (a lock, permits) that is released
/// while tasks wait for it.
///
/// Both policies serve waiters in FIFO order and neither lets a waiter
/// starve; they differ in whether a task that *arrives* while others wait
/// may take the resource first.
///
/// | | [`Strict`](Fairness::Strict) | [`Eventual`](Fairness::Eventual) |
/// |---|---|---|
/// | on release, with waiters | the resource is handed to the first waiter | the first waiter is woken and retries; a new arrival may take the resource first |
/// | `try_*` while others wait | fails | may succeed |
/// | a waiter is overtaken | never | at most 8 times, and for at most 0.5 ms after the first time; then it is handed the resource, and hand-off stays on until nobody waits |
/// | a waiter that asks for more than is free | gets released permits as they come (nobody overtakes it) | same |
/// | contended throughput | one task switch per hand-off | the releasing task keeps running while contention is occasional (see `docs/primitives.md` for numbers) |
///
/// [`Lock`](crate::Lock), [`RwLock`](crate::RwLock) and
/// [`Semaphore`](crate::Semaphore) take a policy at construction;
/// each primitive's documentation states its default.
///
/// # Examples
///
/// ```
/// use magpie_sync::{Fairness, Lock};
///
/// // Strict FIFO: lock order is arrival order.
/// let lock = Lock::with_fairness(0, Fairness::Strict);
/// futures::executor::block_on(async {
///     *lock.lock().await += 1;
/// });
/// assert_eq!(lock.into_inner(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fairness {
    /// Strict hand-off: a released resource goes straight to the first
    /// waiter, and nobody may take it while anyone waits. Arrival order is
    /// acquisition order, at the price of a task switch per hand-off under
    /// contention.
    Strict,
    /// Eventual fairness (`parking_lot`'s policy): a released resource is
    /// offered to whoever asks first, and the first waiter is woken to
    /// retry. A waiter that has been overtaken too often or for too long
    /// (8 times, or again 0.5 ms after the first time) is handed the
    /// resource directly, and from then on the primitive hands off like
    /// [`Strict`](Fairness::Strict) until nobody waits: under persistent
    /// contention it costs no more than strict hand-off. A waiter that
    /// needs more permits than are free is never overtaken: released
    /// permits are set aside for it. Higher throughput when contention is
    /// occasional; bounded unfairness.
    Eventual,
}
