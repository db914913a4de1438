#!/usr/bin/env bash
# Build the Gradescope autograder zip: every committed file of this repository, plus setup.sh and
# run_autograder at the top of the zip, where Gradescope looks for them.
#
#   labs/gradescope/package.sh [OUT.zip]      (default: autograder.zip in the current directory)
set -euo pipefail
root=$(git rev-parse --show-toplevel)
out=$(realpath -m "${1:-autograder.zip}")
rm -f "$out"
git -C "$root" archive --format=zip -o "$out" HEAD
(cd "$root/labs/gradescope" && zip -q "$out" setup.sh run_autograder)
echo "wrote $out ($(unzip -l "$out" | tail -1 | awk '{print $2}') files)"
