#!/usr/bin/env bash
# Builds the split pipeline's compiled stages: parse (Rust, cargo), aggregate (Go) and the
# generated code of rules (Python), and bundles the TypeScript stages (ingest, sink) into one
# ES module each (esbuild), so a restarted stage starts in a few hundred milliseconds instead
# of the second or more tsx takes to load and transpile its sources. Each step is idempotent and
# quick when nothing changed.
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

ESBUILD="node_modules/.pnpm/node_modules/.bin/esbuild"
[ -x "$ESBUILD" ] || { echo "build: esbuild is missing ($ESBUILD); run pnpm install" >&2; exit 1; }
for stage in ingest sink; do
  out="services/$stage/dist/main.mjs"
  # rebuilt when any TypeScript source it may import is newer than the bundle
  if [ -f "$out" ] && [ -z "$(find services/$stage/src services/kit/src pipeline/src proto/gen/ts -name '*.ts' -newer "$out" -print -quit)" ]; then
    continue
  fi
  "$ESBUILD" "services/$stage/src/main.ts" --bundle --platform=node --format=esm --target=node20 \
    --outfile="$out" --log-level=warning \
    --banner:js="import { createRequire as __mrRequire } from 'node:module'; const require = __mrRequire(import.meta.url);" \
    || { echo "build: bundling the $stage stage failed" >&2; exit 1; }
done
