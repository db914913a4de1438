//! A depth-first search stopped by its time limit ends its threads before `check` returns.
//! Alone in its test binary: it looks at every thread of the process, and another test's search
//! would have threads of its own.

use std::time::Duration;

use checker::model::bounds::{Bounds, Exploration, Strategy};
use checker::model::check::check;
use checker::model::report::Stop;

/// The names of this process's threads that are stateright's search threads (`checker-N`).
fn search_threads() -> Vec<String> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("checker-"))
        .collect()
}

/// Before, the single depth-first thread searched on after `check` had reported the time limit
/// (stateright's own timeout is only looked at between jobs, which one thread never reaches), for
/// as long as the whole bound took, in the caller's process. On one thread and on two.
#[test]
fn a_search_stopped_by_its_time_limit_leaves_no_thread_searching() {
    for threads in [1, 2] {
        for cpu_time in [true, false] {
            let report = check::<raft::Raft>(
                &Bounds {
                    crashes: 1,
                    ..Bounds::default()
                },
                &Exploration {
                    strategy: Strategy::Dfs,
                    threads,
                    timeout: Some(Duration::from_millis(200)),
                    cpu_time,
                    ..Exploration::default()
                },
            );
            assert!(
                matches!(report.stop, Some(Stop::TimeLimit(_))),
                "{threads} threads, CPU time {cpu_time}: {:?}",
                report.stop
            );
            assert_eq!(
                search_threads(),
                Vec::<String>::new(),
                "{threads} threads, CPU time {cpu_time}: still searching after the report"
            );
        }
    }
}
