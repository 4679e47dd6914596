#!/usr/bin/env bash
# Runs the aggregate stage's checks: go vet, go test ./... and gen.sh --check (the committed
# gen/ matches a fresh generation), and ends with exactly one line
#   TESTS: passed=N failed=M skipped=K
# N, M, K count the `go test -v` results (subtests included) plus the generated-code check as
# one more test (skipped when buf is not installed). Exits non-zero when anything failed.
# Extra arguments go to go test (e.g. -race, -run TestX).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"
bash "$HERE/scripts/build.sh"
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT

rc=0
if ! go vet ./...; then
  echo "aggregate: go vet failed" >&2
  rc=1
fi

set +e
go test -count=1 -v "$@" ./... >"$LOG" 2>&1
test_rc=$?
set -e
grep -E '^(ok|FAIL|---|panic:)' "$LOG" || true
if [ "$test_rc" -ne 0 ]; then
  echo "---- go test output (failures) ----"
  grep -E -B2 -A20 -- '--- FAIL|^panic:|build failed|\[setup failed\]' "$LOG" | head -200 || true
  rc=1
fi
passed=$(grep -cE '^\s*--- PASS: ' "$LOG" || true)
failed=$(grep -cE '^\s*--- FAIL: ' "$LOG" || true)
skipped=$(grep -cE '^\s*--- SKIP: ' "$LOG" || true)
if [ "$test_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # a package that did not build or panicked outside a test
fi

if [ -x "$ROOT/proto/node_modules/.bin/buf" ]; then
  if bash "$HERE/scripts/gen.sh" --check; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    rc=1
  fi
else
  echo "aggregate: gen.sh --check skipped: proto/node_modules/.bin/buf is not installed (pnpm install)" >&2
  skipped=$((skipped + 1))
fi

if [ "$passed" -eq 0 ]; then
  rc=1
fi
echo "TESTS: passed=$passed failed=$failed skipped=$skipped"
exit "$rc"
