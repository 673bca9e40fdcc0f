//! Waking a task allocates nothing: `clone`, `wake_by_ref`, `wake` and
//! `drop` of a task's waker only touch its reference count and run queue.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::task::{Poll, Waker};

/// Counts allocations made by the current thread only, so other threads'
/// activity cannot disturb the measurement.
struct CountingAlloc;

std::thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the thread-local counter is
// const-initialised and needs no allocation.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|a| a.set(a.get() + 1));
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn task_wakers_allocate_nothing() {
    let rt = magpie::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        magpie::spawn(async {
            // A sleeping task whose waker we can use.
            let (tx, rx) = std::sync::mpsc::channel::<Waker>();
            let mut tx = Some(tx);
            let sleeper = magpie::spawn(std::future::poll_fn(move |cx| {
                if let Some(tx) = tx.take() {
                    tx.send(cx.waker().clone()).unwrap();
                }
                Poll::<()>::Pending
            }));
            magpie::task::yield_now().await;
            let waker = rx.recv().unwrap();

            // Warm up the run queue's storage first.
            for _ in 0..4 {
                waker.wake_by_ref();
                magpie::task::yield_now().await;
            }
            let before = allocations();
            for _ in 0..100 {
                let clone = waker.clone();
                waker.wake_by_ref();
                clone.wake();
                let clone = waker.clone();
                drop(clone);
                magpie::task::yield_now().await;
            }
            let during = allocations() - before;
            assert_eq!(during, 0, "waking allocated {during} times");
            sleeper.cancel();
        })
        .await
        .unwrap();
    });
}
