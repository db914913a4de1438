#!/usr/bin/env bash
# Gradescope autograder image setup for raftlab (runs once, when the image is built).
#
# The autograder zip (labs/gradescope/package.sh) holds the autograder source: the student handout
# (no solutions) plus the grader. Gradescope unpacks it to $AUTOGRADER/source and runs this script
# as root.
set -euo pipefail
AUTOGRADER=${AUTOGRADER:-/autograder}
SOURCE="$AUTOGRADER/source"

# A Rust toolchain, if the image has none.
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  apt-get update -qq && apt-get install -y -qq curl build-essential git ca-certificates >/dev/null
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
fi
export PATH="$HOME/.cargo/bin:$PATH"

cd "$SOURCE"
cargo build --release -p labs
# Grade the skeleton (an empty submission: the handout's stubs) once: this compiles every
# dependency and the pristine framework into the grader's target directory
# (/var/cache/raftlab/grade/target), so grading a submission only recompiles the student crates.
mkdir -p /tmp/raftlab-empty-submission
./target/release/labs grade --submission /tmp/raftlab-empty-submission --lab all --out /tmp/raftlab-warmup >/dev/null
echo "raftlab autograder ready"
