#!/usr/bin/env bash
# `pnpm pipeline …` / `npm run pipeline -- …`: the pipeline CLI (generate, run, bench).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/bootstrap.sh" --quiet
exec node --import tsx "$ROOT/pipeline/src/cli.ts" "$@"
