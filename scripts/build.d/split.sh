#!/usr/bin/env bash
# Builds the split pipeline's compiled stages: parse (Rust, cargo), aggregate (Go) and the
# generated code of rules (Python). Each step is idempotent and quick when nothing changed.
# The TypeScript stages (ingest, sink) run from source under tsx and need no build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
for stage in parse rules aggregate; do
  script="services/$stage/scripts/build.sh"
  if [ ! -f "$script" ]; then
    echo "build: $script is missing" >&2
    exit 1
  fi
  bash "$script" || { echo "build: the $stage stage failed to build ($script)" >&2; exit 1; }
done
