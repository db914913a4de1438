//! Runs are functions of their seed, and they never hang: every way a run can go wrong ends it with
//! a clear error.

use std::time::Duration;

use labkit::sim::{RunConfig, RunError, run};

#[test]
fn virtual_time_passes_instantly_and_exactly() {
    let ((), stats) = run(RunConfig::new(1), |sim| async move {
        sim.sleep(Duration::from_secs(100)).await;
        assert_eq!(sim.now(), Duration::from_secs(100));
    })
    .unwrap();
    assert_eq!(stats.virtual_elapsed, Duration::from_secs(100));
    assert!(stats.wall < Duration::from_secs(5));
}

#[test]
fn random_draws_depend_only_on_the_seed() {
    let draw = |seed| {
        run(RunConfig::new(seed), |sim| async move {
            (0..10)
                .map(|_| sim.random_range(0..1_000_000u64))
                .collect::<Vec<_>>()
        })
        .unwrap()
        .0
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
}

#[test]
fn a_zero_length_timer_rearmed_forever_is_reported_as_a_stall() {
    let result = run(RunConfig::new(1).stall_limit(10_000), |sim| async move {
        let looping = sim.clone();
        sim.spawn(async move {
            loop {
                looping.sleep(Duration::ZERO).await;
            }
        });
        sim.sleep(Duration::from_secs(1)).await;
    });
    match result {
        Err(RunError::Stalled { events, at }) => {
            assert!(events > 10_000);
            assert_eq!(at, Duration::ZERO);
        }
        other => panic!("expected a stall, got {other:?}"),
    }
    let message = RunError::Stalled {
        events: 5,
        at: Duration::ZERO,
    }
    .to_string();
    assert!(message.contains("no virtual-time progress"), "{message}");
}

#[test]
fn exceeding_the_real_time_budget_fails_the_run() {
    // A zero budget is exceeded by the first check, after 1024 events.
    let result = run(
        RunConfig::new(1).real_time_budget(Duration::ZERO),
        |sim| async move {
            for _ in 0..5000 {
                sim.sleep(Duration::from_millis(1)).await;
            }
        },
    );
    assert!(
        matches!(result, Err(RunError::RealTimeBudget { budget, .. }) if budget == Duration::ZERO),
        "{result:?}"
    );
}

#[test]
fn exceeding_the_virtual_time_limit_fails_the_run() {
    let result = run(
        RunConfig::new(1).virtual_limit(Duration::from_secs(120)),
        |sim| async move { sim.sleep(Duration::from_secs(121)).await },
    );
    assert_eq!(
        result.unwrap_err(),
        RunError::VirtualTimeLimit {
            limit: Duration::from_secs(120)
        }
    );
}

#[test]
fn waiting_for_something_that_never_happens_ends_at_the_virtual_limit() {
    // Nothing is runnable and no timer is pending: without the run's own deadline the paused
    // runtime would park forever.
    let result = run(RunConfig::new(1), |_sim| async move {
        let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
        let _ = rx.await;
    });
    assert!(matches!(result, Err(RunError::VirtualTimeLimit { .. })));
}

#[test]
fn a_panicking_task_fails_the_run_with_its_message() {
    let result = run(RunConfig::new(1), |sim| async move {
        sim.spawn(async { panic!("boom in a task") });
        sim.sleep(Duration::from_secs(1)).await;
    });
    assert_eq!(
        result.unwrap_err(),
        RunError::Panicked {
            message: "boom in a task".into()
        }
    );
    let result = run(RunConfig::new(1), |_sim| async move {
        panic!("boom in the body");
    });
    assert!(matches!(result, Err(RunError::Panicked { message }) if message == "boom in the body"));
}

#[test]
fn a_panic_while_building_the_body_fails_the_run_too() {
    let result = run(RunConfig::new(1), |_sim| -> std::future::Ready<()> {
        panic!("2A: not implemented yet");
    });
    assert!(
        matches!(result, Err(RunError::Panicked { message }) if message == "2A: not implemented yet")
    );
}

#[test]
fn an_explicit_failure_ends_the_run() {
    let result = run(RunConfig::new(1), |sim| async move {
        sim.fail(RunError::Panicked {
            message: "first".into(),
        });
        sim.fail(RunError::Panicked {
            message: "second".into(),
        });
        sim.sleep(Duration::from_secs(1)).await;
        unreachable!("the run stops at the first await after a failure");
    });
    assert!(matches!(result, Err(RunError::Panicked { message }) if message == "first"));
}
