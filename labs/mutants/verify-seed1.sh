#!/usr/bin/env bash
# Apply each mutant in turn to this checkout, run its lab's suites once at the default seed (seed 1)
# and print one row per mutant: name, lab, the tests that failed. A quick check of the catalog that
# needs no grader; `labs mutants` (and the mutants_table test) is the graded table.
#
# Usage: labs/mutants/verify-seed1.sh [NAME...]   (from the repository root; needs a clean tree)
# Raft mutants (labs 2A-2D) run lab2a..lab2d, 2E mutants lab2e, KV mutants (3A, 3B) lab3a and lab3b.
set -u
cd "$(dirname "$0")/../.."
if ! git diff --quiet -- raft kvraft; then
    echo "raft/ or kvraft/ has uncommitted changes: refusing to apply mutants" >&2
    exit 2
fi
if [ $# -gt 0 ]; then
    patches=()
    for name in "$@"; do patches+=("labs/mutants/$name.patch"); done
else
    patches=(labs/mutants/*.patch)
fi
for patch in "${patches[@]}"; do
    name=$(basename "$patch" .patch)
    lab=$(head -1 "$patch" | sed -n 's/^Mutant [^ ]* (lab \([0-9A-Z]*\)).*/\1/p')
    case "$lab" in
        2E) suites="lab2e" ;;
        2*) suites="lab2a lab2b lab2c lab2d" ;;
        3*) suites="lab3a lab3b" ;;
        *) echo "$name: no lab in the header" >&2; continue ;;
    esac
    if ! git apply "$patch"; then
        printf '%-40s %-3s DOES NOT APPLY\n' "$name" "$lab"
        continue
    fi
    caught=""
    args=()
    for s in $suites; do args+=(--test "$s"); done
    out=$(cargo test --release -q "${args[@]}" --no-fail-fast 2>&1)
    if echo "$out" | grep -q 'could not compile'; then
        caught="(does not build)"
    else
        # The FAIL summary lines (libtest's progress dots may precede them on a line).
        caught=$(echo "$out" | grep -o 'lab[0-9][a-z] [a-z0-9_]* FAIL seed' | sed 's/ FAIL seed//; s/ /\//' | sort -u | tr '\n' ' ')
        [ -z "$caught" ] && caught="NOT CAUGHT"
    fi
    git apply -R "$patch"
    printf '%-40s %-3s %s\n' "$name" "$lab" "$caught"
done
