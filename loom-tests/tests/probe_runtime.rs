//! The smallest model of the runtime inside loom: build it, spawn from
//! outside, join, on two workers. Three threads running the whole idle
//! protocol: the preemption bound is capped at 1 (about 20 s, against
//! about ten minutes at 2; see `loom_tests::two_worker_model`).
#![cfg(loom)]
#[test]
fn spawn_and_join_inside_loom() {
    loom_tests::two_worker_model().check(|| {
        let rt = magpie::Runtime::builder()
            .worker_threads(2)
            .build()
            .unwrap();
        let v = rt.block_on(async { magpie::spawn(async { 1 }).await.unwrap() });
        assert_eq!(v, 1);
    });
}
