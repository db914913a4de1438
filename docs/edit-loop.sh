#!/bin/bash
# One edit-loop measurement (run from anywhere in the checkout): edit raft.rs (toggle a log message), time to lab2a's first result, then to checker's first line
cd "$(git rev-parse --show-toplevel)"
if grep -q '"became leader"' raft/src/raft.rs; then sed -i 's/"became leader"/"became the leader"/' raft/src/raft.rs; else sed -i 's/"became the leader"/"became leader"/' raft/src/raft.rs; fi
t0=$(date +%s.%N)
cargo test --release --test lab2a 2>/dev/null | grep -m1 -q '^lab2a '
t1=$(date +%s.%N)
cargo run --release -p checker -- check 2>/dev/null | head -n 1 >/dev/null
t2=$(date +%s.%N)
echo "lab2a_first=$(echo "$t1-$t0"|bc) checker_first_more=$(echo "$t2-$t1"|bc) load=$(cut -d' ' -f1 /proc/loadavg)"
