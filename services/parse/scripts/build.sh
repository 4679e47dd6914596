#!/usr/bin/env bash
# Builds the parse stage: services/parse/target/release/parse. Quiet unless the build fails;
# cargo makes it idempotent and fast when nothing changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "parse: cargo is not installed (needs Rust >= 1.88; see services/parse/README.md)" >&2
  exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! cargo build --release --locked --quiet >"$log" 2>&1; then
  cat "$log" >&2
  echo "parse: cargo build --release failed" >&2
  exit 1
fi
