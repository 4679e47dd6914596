#!/usr/bin/env bash
# Builds the aggregate stage: services/aggregate/bin/aggregate. Needs Go >= 1.26 and the Go
# module proxy (go.sum pins every module). Quiet unless the build fails; Go's build cache makes
# it idempotent and fast when nothing changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v go >/dev/null 2>&1; then
  echo "aggregate: go is not installed (needs Go >= 1.26; see services/aggregate/README.md)" >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! go build -trimpath -buildvcs=false -o bin/aggregate . >"$log" 2>&1; then
  cat "$log" >&2
  echo "aggregate: go build failed" >&2
  exit 1
fi
