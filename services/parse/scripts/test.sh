#!/usr/bin/env bash
# Runs the parse stage's tests (cargo test: validator corpus, ts conversion, framing, batch
# columns, the in-process gRPC stage) and ends with one line:
#   TESTS: passed=N failed=M skipped=K
# Exits non-zero when anything failed (or the build broke).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
cargo test --release --locked 2>&1 | tee "$log" || status=$?
passed=0 failed=0 skipped=0
while read -r p f s; do
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done < <(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/p' "$log")
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi # a build error runs no test
echo "TESTS: passed=$passed failed=$failed skipped=$skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
