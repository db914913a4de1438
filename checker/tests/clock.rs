//! The CPU-time clock of the presets' limits (`checker::model::clock`). Alone in its test binary:
//! the clock counts the whole process's CPU time, so no other test may run beside it.

use std::time::{Duration, Instant};

use checker::model::clock::Stopwatch;

/// Waiting costs no CPU time: a CPU stopwatch stands still while the thread waits, a real one
/// does not; and work moves the CPU stopwatch.
#[test]
fn cpu_time_stands_still_while_the_process_waits() {
    let (cpu, real) = (Stopwatch::start(true), Stopwatch::start(false));
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_millis(300) {
        std::thread::park_timeout(Duration::from_millis(300));
    }
    assert!(real.passed(Duration::from_millis(300)));
    assert!(
        cpu.elapsed() < Duration::from_millis(100),
        "{:?} of CPU time while waiting",
        cpu.elapsed()
    );
    let busy = Stopwatch::start(true);
    let mut x: u64 = 1;
    while !busy.passed(Duration::from_millis(50)) {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
    assert!(busy.elapsed() >= Duration::from_millis(50));
}
