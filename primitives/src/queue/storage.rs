//! The order of a queue: the sealed [`Storage`] trait and its three
//! implementations, [`Fifo`], [`Lifo`] and [`Priority`]. A storage is only
//! a container: the queue's lock guards it, and `shared.rs` decides when
//! to push and pop (it never pops an empty storage).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

#[cfg(doc)]
use super::{GenericQueue, LifoQueue, PriorityQueue, Queue};

mod sealed {
    pub trait Sealed {}
}

/// The order in which a [`GenericQueue`] hands out its items: [`Fifo`]
/// (first in, first out), [`Lifo`] (last in, first out) or [`Priority`]
/// (smallest first). Sealed: these three are all there is.
///
/// # Examples
///
/// ```
/// use magpie_sync::{GenericQueue, Storage};
///
/// // Code generic over the order.
/// fn drain<T, S: Storage<T>>(q: &GenericQueue<T, S>) -> Vec<T> {
///     std::iter::from_fn(|| q.try_get().ok().map(|item| item.into_inner())).collect()
/// }
/// let q = magpie_sync::LifoQueue::unbounded();
/// q.try_put(1).unwrap();
/// q.try_put(2).unwrap();
/// assert_eq!(drain(&q), [2, 1]);
/// ```
#[allow(clippy::len_without_is_empty)]
pub trait Storage<T>: sealed::Sealed {
    #[doc(hidden)]
    fn with_capacity(capacity: usize) -> Self;
    #[doc(hidden)]
    fn push(&mut self, item: T);
    #[doc(hidden)]
    fn pop(&mut self) -> Option<T>;
    #[doc(hidden)]
    fn len(&self) -> usize;
}

/// Declares a storage: a newtype over a std container, sealed, whose
/// `with_capacity` and `len` are the container's and whose `push` and `pop`
/// are given (`$s` is the container, `$item` the item).
macro_rules! storage {
    (
        $(#[$attr:meta])*
        $name:ident<T $(: $bound:path)?>($inner:ty)
        push($s:ident, $item:ident) $push:expr;
        pop($p:ident) $pop:expr;
    ) => {
        $(#[$attr])*
        #[derive(Debug)]
        pub struct $name<T>($inner);

        impl<T> sealed::Sealed for $name<T> {}

        impl<T $(: $bound)?> Storage<T> for $name<T> {
            #[inline]
            fn with_capacity(capacity: usize) -> Self {
                $name(<$inner>::with_capacity(capacity))
            }
            #[inline]
            fn push(&mut self, $item: T) {
                let $s = &mut self.0;
                $push
            }
            #[inline]
            fn pop(&mut self) -> Option<T> {
                let $p = &mut self.0;
                $pop
            }
            #[inline]
            fn len(&self) -> usize {
                self.0.len()
            }
        }
    };
}

storage! {
    /// First in, first out: the storage of [`Queue`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{Fifo, GenericQueue};
    ///
    /// let q: GenericQueue<u8, Fifo<u8>> = GenericQueue::unbounded();
    /// q.try_put(1).unwrap();
    /// q.try_put(2).unwrap();
    /// assert_eq!(*q.try_get().unwrap(), 1);
    /// ```
    Fifo<T>(VecDeque<T>)
    push(items, item) items.push_back(item);
    pop(items) items.pop_front();
}

storage! {
    /// Last in, first out: the storage of [`LifoQueue`].
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{GenericQueue, Lifo};
    ///
    /// let q: GenericQueue<u8, Lifo<u8>> = GenericQueue::unbounded();
    /// q.try_put(1).unwrap();
    /// q.try_put(2).unwrap();
    /// assert_eq!(*q.try_get().unwrap(), 2);
    /// ```
    Lifo<T>(Vec<T>)
    push(items, item) items.push(item);
    pop(items) items.pop();
}

storage! {
    /// Smallest first (asyncio's order; wrap items in [`std::cmp::Reverse`]
    /// for largest first): the storage of [`PriorityQueue`]. Items that
    /// compare equal come out in no particular order.
    ///
    /// # Examples
    ///
    /// ```
    /// use magpie_sync::{GenericQueue, Priority};
    ///
    /// let q: GenericQueue<u8, Priority<u8>> = GenericQueue::unbounded();
    /// q.try_put(2).unwrap();
    /// q.try_put(1).unwrap();
    /// assert_eq!(*q.try_get().unwrap(), 1);
    /// ```
    Priority<T: Ord>(BinaryHeap<Reverse<T>>)
    push(items, item) items.push(Reverse(item));
    pop(items) items.pop().map(|Reverse(item)| item);
}
