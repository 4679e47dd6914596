#!/usr/bin/env bash
# Type-checks every TypeScript package of the workspace.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
fail=0
for dir in server web services/kit services/calculator services/ingest services/sink pipeline; do
  [ -f "$dir/tsconfig.json" ] || continue
  echo "tsc $dir"
  (cd "$dir" && "$ROOT/node_modules/.bin/tsc" --noEmit -p .) || fail=1
done
exit $fail
