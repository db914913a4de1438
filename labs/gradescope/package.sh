#!/usr/bin/env bash
# Build the Gradescope autograder zip: the autograder source (`labs autograder`: the student
# handout, with solutions replaced by their stubs, plus the grader's own code; no reference
# solution, no reference tests, no mutant catalog), with setup.sh and run_autograder at the top of
# the zip, where Gradescope looks for them. Files are taken as `git ls-files` lists them, with
# their contents in the working tree.
#
#   labs/gradescope/package.sh [OUT.zip]      (default: autograder.zip in the current directory)
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
out=$(realpath -m "${1:-autograder.zip}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -f "$out"
(cd "$root" && cargo run --release --quiet -p labs -- autograder --out "$work/source")
(cd "$work/source" && zip -qr "$out" .)
(cd "$root/labs/gradescope" && zip -q "$out" setup.sh run_autograder)
echo "wrote $out ($(unzip -l "$out" | tail -1 | awk '{print $2}') files, no solutions)"
