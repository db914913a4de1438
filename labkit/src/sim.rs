//! Virtual time and determinism: a [`Run`] is a function of its seed.
//!
//! A run owns a current-thread tokio runtime whose clock is paused: time only moves when every task
//! is waiting, and then jumps straight to the next timer. So a test that simulates two minutes of
//! Raft finishes in milliseconds, and the order of events depends on nothing but the program and the
//! seed. The [`Sim`] handle inside a run gives every component the same seeded RNG, the virtual clock,
//! and a trace hash that folds in every event the framework sees, so two runs can be proven identical
//! by comparing one number.
//!
//! A run never hangs. It fails with a [`RunError`] when it exceeds its virtual-time limit, when it
//! stops making virtual-time progress (too many events at one virtual instant: a zero-length timer
//! re-armed forever, a message storm), when it exceeds its real-time budget, or when a task panics.
//! Code that loops forever without ever awaiting cannot be interrupted from inside a thread; for
//! that a watchdog thread ends the process with a message once the budget is long past.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

use futures::FutureExt;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::Notify;
use tokio::time::Instant;

/// How a run is set up and bounded.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Fail when the run's future has not finished after this much virtual time.
    pub virtual_limit: Duration,
    /// Fail when the run has used this much real time.
    pub real_time_budget: Duration,
    /// Fail after this many events without virtual time moving.
    pub stall_limit: u64,
    /// A name for messages (e.g. `lab2a initial_election seed=3`).
    pub label: String,
    /// Keep the run's events for its picture (see [`crate::recorder`]); off, they are only logged.
    pub record: bool,
}

impl RunConfig {
    /// Defaults: 120 s virtual (the course's per-test limit), 60 s real, 1,000,000 events per instant.
    pub fn new(seed: u64) -> Self {
        RunConfig {
            seed,
            virtual_limit: Duration::from_secs(120),
            real_time_budget: Duration::from_secs(60),
            stall_limit: 1_000_000,
            label: format!("run seed={seed}"),
            record: false,
        }
    }

    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    pub fn virtual_limit(mut self, limit: Duration) -> Self {
        self.virtual_limit = limit;
        self
    }

    pub fn real_time_budget(mut self, budget: Duration) -> Self {
        self.real_time_budget = budget;
        self
    }

    pub fn stall_limit(mut self, events: u64) -> Self {
        self.stall_limit = events;
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
}

/// Why a run failed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunError {
    #[error("exceeded the virtual-time limit of {limit:?}")]
    VirtualTimeLimit { limit: Duration },
    #[error(
        "no virtual-time progress: {events} events at virtual time {at:?} without the clock moving \
         (a timer re-armed with zero duration, or a message storm?)"
    )]
    Stalled { events: u64, at: Duration },
    #[error("exceeded the real-time budget of {budget:?} (at virtual time {at:?})")]
    RealTimeBudget { budget: Duration, at: Duration },
    #[error("panicked: {message}")]
    Panicked { message: String },
    #[error("could not build the tokio runtime: {0}")]
    Runtime(String),
    /// The static check refused the student files (`labkit::student_code`); nothing ran.
    #[error("{0}")]
    StudentCode(String),
}

/// What a finished run measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunStats {
    pub seed: u64,
    /// Virtual time from start to end.
    pub virtual_elapsed: Duration,
    /// Real time the run took.
    pub wall: Duration,
    /// Events recorded in the trace.
    pub events: u64,
    /// Hash of every recorded event and its virtual time.
    pub trace: u64,
}

/// The handle to the current run: seeded RNG, virtual clock, trace, task spawning. Cheap to clone;
/// single-threaded by construction (the whole simulation runs on one thread).
#[derive(Clone)]
pub struct Sim(Rc<SimState>);

struct SimState {
    config: RunConfig,
    start: Instant,
    real_start: std::time::Instant,
    rng: RefCell<ChaCha8Rng>,
    trace: Cell<u64>,
    events: Cell<u64>,
    // Stall detection: the last virtual instant seen and the event count then.
    last_instant: Cell<Instant>,
    events_at_last_instant: Cell<u64>,
    failure: RefCell<Option<RunError>>,
    failed: Notify,
    // What happened, for the timeline page; never read by the run itself (see `recorder`).
    recorder: crate::recorder::Recorder,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a: stable, fast, and good enough to tell traces apart.
struct TraceHasher(u64);

impl Hasher for TraceHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // One multiply per word instead of eight: the trace is hashed on every event.
        self.0 ^= v;
        self.0 = self.0.wrapping_mul(FNV_PRIME);
        self.0 ^= self.0 >> 29;
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Check the real-time budget once per this many events (reading the clock costs ~20 ns).
const REAL_TIME_CHECK_EVERY: u64 = 1024;

impl Sim {
    fn new(config: RunConfig) -> Sim {
        let now = Instant::now();
        let record = config.record;
        Sim(Rc::new(SimState {
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(config.seed)),
            config,
            start: now,
            real_start: std::time::Instant::now(),
            trace: Cell::new(FNV_OFFSET),
            events: Cell::new(0),
            last_instant: Cell::new(now),
            events_at_last_instant: Cell::new(0),
            failure: RefCell::new(None),
            failed: Notify::new(),
            recorder: crate::recorder::Recorder::new(record),
        }))
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.0.config.seed
    }

    /// Virtual time since the run started.
    pub fn now(&self) -> Duration {
        Instant::now() - self.0.start
    }

    /// A uniformly random number in `range`, from the run's seeded RNG.
    pub fn random_range<T, R>(&self, range: R) -> T
    where
        T: rand::distr::uniform::SampleUniform,
        R: rand::distr::uniform::SampleRange<T>,
    {
        self.0.rng.borrow_mut().random_range(range)
    }

    /// A uniformly random duration in `range` (whole microseconds).
    pub fn random_duration(&self, range: std::ops::Range<Duration>) -> Duration {
        let lo = range.start.as_micros() as u64;
        let hi = range.end.as_micros() as u64;
        if hi <= lo {
            return range.start;
        }
        Duration::from_micros(self.random_range(lo..hi))
    }

    /// Run `f` with the run's RNG, for choices `random_range` does not cover (shuffles, picks).
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        f(&mut self.0.rng.borrow_mut())
    }

    /// Fold an event into the trace hash, together with the virtual time it happened at. Also the
    /// place where stalls and the real-time budget are noticed.
    pub fn record(&self, event: impl Hash) {
        let s = &self.0;
        let now = Instant::now();
        let mut h = TraceHasher(s.trace.get());
        ((now - s.start).as_nanos() as u64).hash(&mut h);
        event.hash(&mut h);
        s.trace.set(h.finish());
        let events = s.events.get() + 1;
        s.events.set(events);

        if now > s.last_instant.get() {
            s.last_instant.set(now);
            s.events_at_last_instant.set(events);
        } else if events - s.events_at_last_instant.get() > s.config.stall_limit {
            self.fail(RunError::Stalled {
                events: events - s.events_at_last_instant.get(),
                at: now - s.start,
            });
        }
        if events.is_multiple_of(REAL_TIME_CHECK_EVERY)
            && s.real_start.elapsed() > s.config.real_time_budget
        {
            self.fail(RunError::RealTimeBudget {
                budget: s.config.real_time_budget,
                at: now - s.start,
            });
        }
    }

    /// The run's recorder: what happened, for pictures and the `lab` log target. Recording
    /// leaves the trace hash and the RNG alone.
    pub fn recorder(&self) -> &crate::recorder::Recorder {
        &self.0.recorder
    }

    /// The trace hash so far.
    pub fn trace(&self) -> u64 {
        self.0.trace.get()
    }

    /// Events recorded so far.
    pub fn events(&self) -> u64 {
        self.0.events.get()
    }

    /// Fail the run (the first failure wins). The run's future is abandoned at its next await.
    pub fn fail(&self, error: RunError) {
        let mut failure = self.0.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some(error);
            self.0.failed.notify_one();
        }
    }

    /// True once the run has failed; framework loops stop doing work then.
    pub fn has_failed(&self) -> bool {
        self.0.failure.borrow().is_some()
    }

    /// Sleep for `duration` of virtual time. Records the wake-up; after a failure it never returns,
    /// so a runaway loop parks and the run can end.
    pub async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
        self.checkpoint().await;
        self.record(("sleep", duration.as_nanos() as u64));
    }

    /// Park forever if the run has failed: framework loops call this between steps.
    pub async fn checkpoint(&self) {
        if self.has_failed() {
            std::future::pending::<()>().await;
        }
    }

    /// Spawn a task on the run. A panic in it fails the run with the panic's message.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + 'static,
    {
        let sim = self.clone();
        tokio::task::spawn_local(async move {
            if let Err(panic) = AssertUnwindSafe(future).catch_unwind().await {
                sim.fail(RunError::Panicked {
                    message: panic_message(&*panic),
                });
            }
        })
    }

    async fn failure(&self) -> RunError {
        loop {
            if let Some(error) = self.0.failure.borrow().clone() {
                return error;
            }
            self.0.failed.notified().await;
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

thread_local! {
    // Virtual start of the run on this thread, for log timestamps (see `logging`).
    static CURRENT_START: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Virtual time since the start of the run executing on this thread, if any.
pub fn current_virtual_time() -> Option<Duration> {
    CURRENT_START
        .with(|s| s.get())
        .map(|start| Instant::now() - start)
}

/// A run: builds the paused-clock runtime, runs `body` with a fresh [`Sim`], and bounds it.
///
/// ```
/// use std::time::Duration;
/// use labkit::sim::{run, RunConfig};
///
/// let (value, stats) = run(RunConfig::new(7), |sim| async move {
///     sim.sleep(Duration::from_secs(100)).await; // 100 s of virtual time, instantly
///     sim.random_range(0..100u32)
/// })
/// .unwrap();
/// assert!(value < 100);
/// assert_eq!(stats.virtual_elapsed, Duration::from_secs(100));
/// ```
pub fn run<F, Fut, T>(config: RunConfig, body: F) -> Result<(T, RunStats), RunError>
where
    F: FnOnce(Sim) -> Fut,
    Fut: Future<Output = T>,
{
    let (result, stats) = run_with_stats(config, body);
    result.map(|value| (value, stats))
}

/// Like [`run`], but the run's statistics (virtual time, trace) come back even when it fails, for
/// the summary line of a failing run.
pub fn run_with_stats<F, Fut, T>(config: RunConfig, body: F) -> (Result<T, RunError>, RunStats)
where
    F: FnOnce(Sim) -> Fut,
    Fut: Future<Output = T>,
{
    let (result, stats, _) = run_recorded(config, body);
    (result, stats)
}

/// Like [`run_with_stats`], and also what the run's recorder kept (see [`crate::recorder`]).
pub fn run_recorded<F, Fut, T>(
    config: RunConfig,
    body: F,
) -> (Result<T, RunError>, RunStats, crate::recorder::Recording)
where
    F: FnOnce(Sim) -> Fut,
    Fut: Future<Output = T>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            let stats = RunStats {
                seed: config.seed,
                virtual_elapsed: Duration::ZERO,
                wall: Duration::ZERO,
                events: 0,
                trace: 0,
            };
            let recording = crate::recorder::Recording::default();
            return (Err(RunError::Runtime(e.to_string())), stats, recording);
        }
    };
    let watchdog = Watchdog::start(&config);
    let local = tokio::task::LocalSet::new();
    let real_start = std::time::Instant::now();
    let seed = config.seed;
    let virtual_limit = config.virtual_limit;

    let outcome = local.block_on(&runtime, async move {
        let sim = Sim::new(config);
        CURRENT_START.with(|s| s.set(Some(sim.0.start)));
        // Call `body` inside the future, so a panic while building the test (a student's
        // `todo!()` in a constructor, say) is caught like any other.
        let body_sim = sim.clone();
        let body = AssertUnwindSafe(async move { body(body_sim).await }).catch_unwind();
        let result = tokio::select! {
            biased;
            error = sim.failure() => Err(error),
            out = body => match out {
                Ok(value) => Ok(value),
                Err(panic) => Err(RunError::Panicked { message: panic_message(&*panic) }),
            },
            _ = tokio::time::sleep(virtual_limit) => Err(RunError::VirtualTimeLimit { limit: virtual_limit }),
        };
        // A failure recorded while the body was finishing still fails the run.
        let result = match (result, sim.0.failure.borrow().clone()) {
            (Ok(_), Some(error)) => Err(error),
            (result, _) => result,
        };
        let stats = RunStats {
            seed,
            virtual_elapsed: sim.now(),
            wall: real_start.elapsed(),
            events: sim.events(),
            trace: sim.trace(),
        };
        let recording = sim.recorder().take(stats.virtual_elapsed);
        CURRENT_START.with(|s| s.set(None));
        (result, stats, recording)
    });
    // Drop the tasks before the runtime so that their destructors still see a runtime context.
    drop(local);
    drop(runtime);
    watchdog.stop();
    outcome
}

/// Ends the process if a run overruns its real-time budget by far: the only way out of code that
/// spins without ever awaiting. Runs that merely loop through the framework are stopped earlier and
/// cleanly by `Sim::record`.
struct Watchdog {
    done: crossbeam_channel::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Watchdog {
    fn start(config: &RunConfig) -> Watchdog {
        let (done, wait) = crossbeam_channel::bounded::<()>(1);
        let deadline = config.real_time_budget * 2 + Duration::from_secs(5);
        let label = config.label.clone();
        let budget = config.real_time_budget;
        let thread = std::thread::spawn(move || {
            if let Err(crossbeam_channel::RecvTimeoutError::Timeout) = wait.recv_timeout(deadline) {
                eprintln!(
                    "{label}: still running after {deadline:?} of real time (budget {budget:?}); \
                     some code loops without ever awaiting, so the run cannot be stopped cleanly. \
                     Ending the process."
                );
                std::process::exit(124);
            }
        });
        Watchdog { done, thread }
    }

    fn stop(self) {
        let _ = self.done.send(());
        let _ = self.thread.join();
    }
}
