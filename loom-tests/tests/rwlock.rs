//! Loom models of `RwLock`: readers and a writer exclude each other (the
//! value sits in a loom `UnsafeCell`, so loom checks every access), a
//! writer in line is not overtaken by readers that arrive after it, and
//! `downgrade` lets waiting readers in.
#![cfg(loom)]

use std::sync::Arc;

use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::atomic::Ordering::SeqCst;
use loom::thread;
use loom_tests::poll_noop;
use magpie_sync::{Fairness, RwLock};

const WRITER: usize = 1 << 8;

/// A writer and two readers at once: readers see the value before or after
/// the write, never during it, and never alongside the writer.
fn readers_and_a_writer_exclude_each_other(fairness: Fairness) {
    loom::model(move || {
        let lock = Arc::new(RwLock::with_fairness(0usize, fairness));
        // Readers inside (low bits) and the writer inside (WRITER).
        let inside = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (lock, inside) = (lock.clone(), inside.clone());
            thread::spawn(move || {
                let mut guard = block_on(lock.write());
                assert_eq!(inside.fetch_add(WRITER, SeqCst), 0, "writer not alone");
                *guard += 1;
                inside.fetch_sub(WRITER, SeqCst);
            })
        };
        let read = |lock: &RwLock<usize>, inside: &AtomicUsize| {
            let guard = block_on(lock.read());
            assert_eq!(
                inside.fetch_add(1, SeqCst) & WRITER,
                0,
                "reader beside writer"
            );
            assert!(*guard <= 1);
            inside.fetch_sub(1, SeqCst);
        };
        let reader = {
            let (lock, inside) = (lock.clone(), inside.clone());
            thread::spawn(move || read(&lock, &inside))
        };
        read(&lock, &inside);
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(*lock.try_read().unwrap(), 1);
    });
}

#[test]
fn readers_and_a_writer_exclude_each_other_strict() {
    readers_and_a_writer_exclude_each_other(Fairness::Strict);
}

#[test]
fn readers_and_a_writer_exclude_each_other_eventual() {
    readers_and_a_writer_exclude_each_other(Fairness::Eventual);
}

/// A reader holds the lock; a writer gets in line; then a new reader
/// arrives while the first reader leaves. The writer must go first: the
/// new reader sees its write (both policies: a writer needs every permit,
/// more than are free, so it is reserved as soon as it waits).
fn writer_not_starved_by_later_readers(fairness: Fairness) {
    loom::model(move || {
        let lock = Arc::new(RwLock::with_fairness(0usize, fairness));
        let first_reader = lock.try_read().unwrap();
        let mut write = Box::pin(lock.clone().write_owned());
        assert!(poll_noop(&mut write).is_pending());
        let writer = thread::spawn(move || *block_on(write) = 1);
        let late_reader = {
            let lock = lock.clone();
            thread::spawn(move || {
                let guard = block_on(lock.read());
                assert_eq!(*guard, 1, "a later reader overtook the waiting writer");
            })
        };
        drop(first_reader);
        writer.join().unwrap();
        late_reader.join().unwrap();
    });
}

#[test]
fn writer_not_starved_by_later_readers_strict() {
    writer_not_starved_by_later_readers(Fairness::Strict);
}

#[test]
fn writer_not_starved_by_later_readers_eventual() {
    writer_not_starved_by_later_readers(Fairness::Eventual);
}

/// A writer downgrades while a reader waits: the reader gets in while the
/// downgraded guard is still held, and sees the write.
#[test]
fn downgrade_lets_waiting_readers_in() {
    loom::model(|| {
        let lock = Arc::new(RwLock::new(0usize));
        let mut guard = lock.try_write().unwrap();
        let mut read = Box::pin(lock.clone().read_owned());
        assert!(poll_noop(&mut read).is_pending());
        let reader = thread::spawn(move || assert_eq!(*block_on(read), 7));
        *guard = 7;
        let shared = guard.downgrade();
        reader.join().unwrap();
        assert_eq!(*shared, 7);
        drop(shared);
        assert!(lock.try_write().is_ok());
    });
}
