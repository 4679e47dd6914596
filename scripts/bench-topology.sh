#!/usr/bin/env bash
# `pnpm bench:topology [--services 200] [--watchers 20] [--seconds 30]`
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh" --quiet
cd "$ROOT/server"
exec node --import tsx bench/topology-bench.ts "$@"
