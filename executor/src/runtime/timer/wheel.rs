//! The hierarchical timing wheel: a pure data structure, no clock, no
//! threads, no `unsafe`.
//!
//! Time is counted in *ticks* of [`TICK`] (16.4 µs) since the driver's
//! start. There are [`LEVELS`] levels of 64 slots; a slot of level `L`
//! spans `64^L` ticks, so level 0 has one-tick slots (1 ms per rotation),
//! level 1 covers 67 ms, level 2 4.3 s, level 3 4.6 min, level 4 4.9 h,
//! level 5 13 days and level 6 2.3 years. Deadlines further out are parked
//! in the top level and re-filed when their slot comes round.
//!
//! An entry with deadline `d` is filed in the level of the highest 6-bit
//! group in which `d` differs from `elapsed` (the tick the wheel has been
//! advanced to), in the slot given by `d`'s bits of that group. So every
//! entry of a lower level expires before any entry of a higher level, and
//! the earliest deadline is found by looking at the levels from the bottom
//! (one `trailing_zeros` on a 64-bit occupancy mask per level). When
//! `elapsed` reaches the start of a slot above level 0, the slot's entries
//! are *cascaded*: re-filed relative to the new `elapsed`, into lower
//! levels. Each entry moves down at most [`LEVELS`] times in its life.
//!
//! Entries live in a slab (`Vec`) and are linked into their slot's
//! doubly-linked list by index, so inserting, cancelling and resetting a
//! timer is O(1) and allocates nothing once the slab has grown to the
//! number of live timers. A [`Key`] carries a generation so that a stale key
//! can never touch a reused entry.
//!
//! A fired entry stays in the slab (state `Fired`) until its owner observes
//! it with [`Wheel::poll_entry`] or drops it with [`Wheel::remove`].

use std::task::Waker;
use std::time::Duration;

/// Bits of a tick index per level.
const LEVEL_BITS: u32 = 6;
const SLOTS: usize = 1 << LEVEL_BITS;
const SLOT_MASK: u64 = SLOTS as u64 - 1;

/// Number of levels.
pub(crate) const LEVELS: usize = 7;

/// log2 of the tick length in nanoseconds.
pub(crate) const TICK_SHIFT: u32 = 14;

/// The length of one tick: the timer resolution (deadlines are rounded up
/// to it, never down).
pub(crate) const TICK: Duration = Duration::from_nanos(1 << TICK_SHIFT);

/// The furthest a deadline can be filed from `elapsed`; later ones wait in
/// the top level and are re-filed.
const MAX_SPAN: u64 = (1 << (LEVEL_BITS * LEVELS as u32)) - 1;

const NIL: u32 = u32::MAX;

/// Names a timer in the wheel. Stale keys (of a removed timer) are
/// recognised by their generation and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    index: u32,
    generation: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the free list.
    Free,
    /// Filed in `level`, `slot`.
    Pending { level: u8, slot: u8 },
    /// Expired and waiting for its owner to notice.
    Fired,
}

struct Entry {
    generation: u32,
    /// The tick at or after which the timer fires.
    deadline: u64,
    state: State,
    waker: Option<Waker>,
    prev: u32,
    /// Next in the slot list, or in the free list.
    next: u32,
}

struct Level {
    heads: [u32; SLOTS],
    /// Bit `s` set iff slot `s` is non-empty.
    occupied: u64,
}

impl Level {
    fn new() -> Level {
        Level {
            heads: [NIL; SLOTS],
            occupied: 0,
        }
    }
}

/// Whether an insert filed the timer or found it already due.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    Pending,
    /// The deadline is not after `elapsed`: the entry is already `Fired`.
    Due,
}

pub(crate) struct Wheel {
    entries: Vec<Entry>,
    free: u32,
    levels: Vec<Level>,
    elapsed: u64,
    /// Timers filed and not yet fired.
    pending: usize,
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        Wheel {
            entries: Vec::new(),
            free: NIL,
            levels: (0..LEVELS).map(|_| Level::new()).collect(),
            elapsed: 0,
            pending: 0,
        }
    }

    /// Timers filed and not yet fired.
    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    fn entry(&self, key: Key) -> Option<&Entry> {
        self.entries
            .get(key.index as usize)
            .filter(|e| e.generation == key.generation && e.state != State::Free)
    }

    /// Files a timer firing at tick `deadline`, to be woken through `waker`.
    pub(crate) fn insert(&mut self, deadline: u64, waker: Waker) -> (Key, Inserted) {
        let index = if self.free != NIL {
            let index = self.free;
            self.free = self.entries[index as usize].next;
            index
        } else {
            let index = u32::try_from(self.entries.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("more than 4 billion live timers");
            self.entries.push(Entry {
                generation: 0,
                deadline: 0,
                state: State::Free,
                waker: None,
                prev: NIL,
                next: NIL,
            });
            index
        };
        let entry = &mut self.entries[index as usize];
        entry.deadline = deadline;
        entry.waker = Some(waker);
        let key = Key {
            index,
            generation: entry.generation,
        };
        let inserted = self.file(index);
        (key, inserted)
    }

    /// Files entry `index` (not linked anywhere) by its deadline.
    fn file(&mut self, index: u32) -> Inserted {
        let deadline = self.entries[index as usize].deadline;
        if deadline <= self.elapsed {
            self.entries[index as usize].state = State::Fired;
            return Inserted::Due;
        }
        let placed = deadline.min(self.elapsed + MAX_SPAN);
        let level = level_for(self.elapsed, placed);
        let slot = ((placed >> (level as u32 * LEVEL_BITS)) & SLOT_MASK) as usize;
        let head = self.levels[level].heads[slot];
        {
            let entry = &mut self.entries[index as usize];
            entry.state = State::Pending {
                level: level as u8,
                slot: slot as u8,
            };
            entry.prev = NIL;
            entry.next = head;
        }
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        self.levels[level].heads[slot] = index;
        self.levels[level].occupied |= 1 << slot;
        self.pending += 1;
        Inserted::Pending
    }

    /// Takes a pending entry out of its slot list (its state is left for
    /// the caller to set).
    fn unlink(&mut self, index: u32) {
        let State::Pending { level, slot } = self.entries[index as usize].state else {
            return;
        };
        let (prev, next) = {
            let e = &self.entries[index as usize];
            (e.prev, e.next)
        };
        let level = &mut self.levels[level as usize];
        if prev == NIL {
            level.heads[slot as usize] = next;
            if next == NIL {
                level.occupied &= !(1 << slot);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        self.pending -= 1;
    }

    /// Removes a timer (fired or not); returns its waker so that the caller
    /// can drop it outside any lock. A stale key does nothing.
    pub(crate) fn remove(&mut self, key: Key) -> Option<Waker> {
        self.entry(key)?;
        self.unlink(key.index);
        let entry = &mut self.entries[key.index as usize];
        entry.state = State::Free;
        entry.generation = entry.generation.wrapping_add(1);
        entry.next = self.free;
        self.free = key.index;
        entry.waker.take()
    }

    /// If the timer fired, removes it and returns `true`. Otherwise makes
    /// sure `waker` is the one it will wake, returning the waker it replaced
    /// (to be dropped outside any lock).
    ///
    /// # Panics
    ///
    /// On a stale key: the owner of a key removes it only once.
    pub(crate) fn poll_entry(&mut self, key: Key, waker: &Waker) -> Result<(), Option<Waker>> {
        let entry = self.entry(key).expect("timer key is stale");
        if entry.state == State::Fired {
            self.remove(key);
            return Ok(());
        }
        let entry = &mut self.entries[key.index as usize];
        match &entry.waker {
            Some(current) if current.will_wake(waker) => Err(None),
            _ => Err(entry.waker.replace(waker.clone())),
        }
    }

    /// Moves a timer to a new deadline (fired or not). Returns whether it is
    /// already due.
    ///
    /// # Panics
    ///
    /// On a stale key.
    pub(crate) fn reset(&mut self, key: Key, deadline: u64) -> Inserted {
        self.entry(key).expect("timer key is stale");
        self.unlink(key.index);
        self.entries[key.index as usize].deadline = deadline;
        self.file(key.index)
    }

    /// The tick at which the wheel next has work: the earliest slot start
    /// among the occupied slots (exact for level 0; for higher levels the
    /// start of the slot to cascade). `None` if no timer is pending.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        if self.pending == 0 {
            return None;
        }
        for (level, lvl) in self.levels.iter().enumerate() {
            if lvl.occupied == 0 {
                continue;
            }
            let slot_range = 1u64 << (level as u32 * LEVEL_BITS);
            let level_range = slot_range << LEVEL_BITS;
            let now_slot = (self.elapsed >> (level as u32 * LEVEL_BITS)) & SLOT_MASK;
            let distance = lvl.occupied.rotate_right(now_slot as u32).trailing_zeros() as u64;
            let slot = (now_slot + distance) & SLOT_MASK;
            let level_start = self.elapsed & !(level_range - 1);
            let mut tick = level_start + slot * slot_range;
            if tick <= self.elapsed && (level > 0 || slot != now_slot || distance > 0) {
                // The slot is behind us in this rotation: it comes round in
                // the next one.
                tick += level_range;
            }
            return Some(tick.max(self.elapsed));
        }
        unreachable!("pending timers but no occupied slot")
    }

    /// Advances the wheel to tick `now`, firing every timer whose deadline is
    /// at or before it: each fired timer's waker is passed to `fire`.
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(Waker)) {
        while let Some(tick) = self.next_expiration() {
            if tick > now {
                break;
            }
            self.elapsed = self.elapsed.max(tick);
            self.process_slot_at(tick, now, &mut fire);
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Empties the lowest occupied slot whose start is `tick`: fires what is
    /// due and re-files the rest relative to the new `elapsed`.
    fn process_slot_at(&mut self, tick: u64, now: u64, fire: &mut impl FnMut(Waker)) {
        let level = (0..LEVELS)
            .find(|&l| self.levels[l].occupied != 0)
            .expect("an occupied level");
        let slot = ((tick >> (level as u32 * LEVEL_BITS)) & SLOT_MASK) as usize;
        let mut cursor = self.levels[level].heads[slot];
        self.levels[level].heads[slot] = NIL;
        self.levels[level].occupied &= !(1 << slot);
        while cursor != NIL {
            let index = cursor;
            cursor = self.entries[index as usize].next;
            self.pending -= 1;
            let entry = &mut self.entries[index as usize];
            entry.prev = NIL;
            entry.next = NIL;
            if entry.deadline <= now {
                entry.state = State::Fired;
                if let Some(waker) = entry.waker.take() {
                    fire(waker);
                }
            } else {
                entry.state = State::Free; // not linked; `file` sets it
                self.file(index);
            }
        }
    }
}

/// The level an entry with deadline `when` is filed in, seen from `elapsed`.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | SLOT_MASK;
    let significant = 63 - masked.leading_zeros();
    ((significant / LEVEL_BITS) as usize).min(LEVELS - 1)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Flag(AtomicUsize);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag(AtomicUsize::new(0)));
        (flag.clone(), Waker::from(flag))
    }

    /// Advances tick by tick and returns the tick at which each timer fired.
    fn fire_ticks(deadlines: &[u64], until: u64, step: u64) -> Vec<Option<u64>> {
        let mut wheel = Wheel::new();
        let flags: Vec<_> = deadlines
            .iter()
            .map(|&d| {
                let (flag, w) = waker();
                wheel.insert(d, w);
                flag
            })
            .collect();
        let mut fired = vec![None; deadlines.len()];
        let mut now = 0;
        while now < until {
            now += step;
            wheel.advance(now, |w| w.wake());
            for (i, flag) in flags.iter().enumerate() {
                if flag.0.load(Ordering::SeqCst) > 0 && fired[i].is_none() {
                    fired[i] = Some(now);
                }
            }
        }
        fired
    }

    #[test]
    #[cfg_attr(miri, ignore)] // walks every level tick by tick: hours under Miri
    fn timers_fire_at_their_tick_across_every_level() {
        let deadlines = [1, 2, 63, 64, 65, 100, 4095, 4096, 4097, 70_000, 300_000];
        let fired = fire_ticks(&deadlines, 300_010, 1);
        for (d, f) in deadlines.iter().zip(fired) {
            assert_eq!(f, Some(*d), "deadline {d}");
        }
    }

    #[test]
    fn coarse_advances_fire_late_never_early() {
        let deadlines = [5, 64, 99, 1000, 5000, 262_143, 262_144];
        let fired = fire_ticks(&deadlines, 300_000, 37);
        for (d, f) in deadlines.iter().zip(fired) {
            let f = f.expect("fired");
            assert!(f >= *d && f < d + 37, "deadline {d} fired at {f}");
        }
    }

    #[test]
    fn next_expiration_is_the_earliest_slot() {
        let mut wheel = Wheel::new();
        assert_eq!(wheel.next_expiration(), None);
        wheel.insert(700, waker().1);
        // 700 is in level 1 (700 ^ 0 >= 64): its slot starts at 640.
        assert_eq!(wheel.next_expiration(), Some(640));
        wheel.insert(10, waker().1);
        assert_eq!(wheel.next_expiration(), Some(10));
        wheel.advance(10, drop);
        assert_eq!(wheel.next_expiration(), Some(640));
        wheel.advance(640, drop);
        // Cascaded to level 0.
        assert_eq!(wheel.next_expiration(), Some(700));
    }

    #[test]
    fn removed_timers_never_fire_and_keys_go_stale() {
        let mut wheel = Wheel::new();
        let (flag, w) = waker();
        let (key, _) = wheel.insert(50, w);
        assert!(wheel.remove(key).is_some());
        assert_eq!(wheel.pending(), 0);
        assert!(wheel.remove(key).is_none(), "stale key is ignored");
        let (flag2, w2) = waker();
        let (key2, _) = wheel.insert(60, w2);
        assert_eq!(key2.index, key.index, "entry reused");
        assert_ne!(key2, key);
        wheel.advance(100, |w| w.wake());
        assert_eq!(flag.0.load(Ordering::SeqCst), 0);
        assert_eq!(flag2.0.load(Ordering::SeqCst), 1);
        assert!(wheel.poll_entry(key2, &waker().1).is_ok());
    }

    #[test]
    fn due_inserts_and_resets() {
        let mut wheel = Wheel::new();
        wheel.advance(1000, drop);
        let (key, inserted) = wheel.insert(999, waker().1);
        assert_eq!(inserted, Inserted::Due);
        assert!(wheel.poll_entry(key, &waker().1).is_ok());

        let (flag, w) = waker();
        let (key, inserted) = wheel.insert(2000, w.clone());
        assert_eq!(inserted, Inserted::Pending);
        assert_eq!(wheel.reset(key, 1500), Inserted::Pending);
        wheel.advance(1499, |w| w.wake());
        assert_eq!(flag.0.load(Ordering::SeqCst), 0);
        wheel.advance(1500, |w| w.wake());
        assert_eq!(flag.0.load(Ordering::SeqCst), 1);
        // A fired timer can be re-armed.
        assert_eq!(wheel.reset(key, 3000), Inserted::Pending);
        assert!(wheel.poll_entry(key, &w).is_err());
        wheel.advance(3000, |w| w.wake());
        assert_eq!(flag.0.load(Ordering::SeqCst), 2);
        assert!(wheel.poll_entry(key, &w).is_ok());
        assert_eq!(wheel.pending(), 0);
    }

    #[test]
    fn far_deadlines_beyond_the_horizon_fire_on_time() {
        let mut wheel = Wheel::new();
        let far = MAX_SPAN * 3 + 12_345;
        let (flag, w) = waker();
        wheel.insert(far, w);
        let mut now = 0;
        let mut steps = 0;
        while let Some(next) = wheel.next_expiration() {
            assert!(next > now || next == wheel.elapsed);
            now = next;
            wheel.advance(now, |w| w.wake());
            steps += 1;
            assert!(steps < 100, "too many cascades");
        }
        assert_eq!(now, far);
        assert_eq!(flag.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    // `Waker::will_wake` compares vtable pointers, which Rust does not
    // promise are unique: Miri deliberately gives copies of a vtable
    // different addresses, so the comparison may say "different" here.
    #[cfg_attr(miri, ignore)]
    fn poll_entry_keeps_an_equivalent_waker() {
        let mut wheel = Wheel::new();
        let (_, w) = waker();
        let (key, _) = wheel.insert(10, w.clone());
        assert!(matches!(wheel.poll_entry(key, &w), Err(None)));
        let (_, other) = waker();
        assert!(matches!(wheel.poll_entry(key, &other), Err(Some(_))));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // 5000 timers: many minutes under Miri
    fn many_random_timers_fire_exactly_once_in_order() {
        let mut wheel = Wheel::new();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut expected = Vec::new();
        let fired = Arc::new(std::sync::Mutex::new(Vec::new()));
        for i in 0..5000u64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let d = 1 + seed % 500_000;
            expected.push((d, i));
            struct Rec(u64, u64, Arc<std::sync::Mutex<Vec<(u64, u64)>>>);
            impl Wake for Rec {
                fn wake(self: Arc<Self>) {
                    self.2.lock().unwrap().push((self.0, self.1));
                }
            }
            wheel.insert(d, Waker::from(Arc::new(Rec(d, i, fired.clone()))));
        }
        while let Some(now) = wheel.next_expiration() {
            let before = fired.lock().unwrap().len();
            wheel.advance(now, |w| w.wake());
            for &(d, _) in &fired.lock().unwrap()[before..] {
                assert_eq!(d, now, "fired at the exact tick");
            }
        }
        let mut got = fired.lock().unwrap().clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected);
    }
}
