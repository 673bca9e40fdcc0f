//! The smallest model of the runtime inside loom: build it, spawn, join.
#![cfg(loom)]
#[test]
fn spawn_and_join_inside_loom() {
    loom::model(|| {
        let rt = magpie::Runtime::builder()
            .worker_threads(2)
            .build()
            .unwrap();
        let v = rt.block_on(async { magpie::spawn(async { 1 }).await.unwrap() });
        assert_eq!(v, 1);
    });
}
