//! The clock a search's time limit is measured on: real time, or the CPU time of this process
//! (all its threads). The graded presets use CPU time, so that a machine busy with other work
//! (a class graded in parallel, CI) does not fail a search that would finish in time on its own.

use std::time::{Duration, Instant};

use rustix::time::{ClockId, clock_gettime};

/// Time since a start, on the clock a limit is measured on.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    real: Instant,
    /// The process's CPU time at the start, when the limit counts CPU time.
    cpu: Option<Duration>,
}

/// The CPU time this process has used so far, all threads together.
pub fn process_cpu_time() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

impl Stopwatch {
    /// Started now; `cpu`: measure this process's CPU time rather than real time.
    pub fn start(cpu: bool) -> Stopwatch {
        Stopwatch {
            real: Instant::now(),
            cpu: cpu.then(process_cpu_time),
        }
    }

    /// Time since the start, on this stopwatch's clock.
    pub fn elapsed(&self) -> Duration {
        match self.cpu {
            Some(start) => process_cpu_time().saturating_sub(start),
            None => self.real.elapsed(),
        }
    }

    /// Whether `limit` has passed on this stopwatch's clock.
    pub fn passed(&self, limit: Duration) -> bool {
        self.elapsed() >= limit
    }

    /// Whether it counts CPU time.
    pub fn counts_cpu_time(&self) -> bool {
        self.cpu.is_some()
    }
}
