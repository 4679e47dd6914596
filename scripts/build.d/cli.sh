#!/usr/bin/env bash
# Bundles the pipeline CLI (pipeline/src/cli.ts and what it imports; DuckDB stays a package)
# into pipeline/dist/cli.mjs with esbuild. The benchmark starts the CLI once per measured run:
# the bundle starts in about half the CPU time of tsx loading and transpiling the sources, time
# that would otherwise count against the split's wall time. Rebuilt when a source is newer; the
# bundle is written under a temporary name and renamed, so a running benchmark never reads a
# half-written file.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
out="pipeline/dist/cli.mjs"
if [ -f "$out" ] && [ -z "$(find pipeline/src services/kit/src proto/gen/ts -name '*.ts' -newer "$out" -print -quit)" ]; then
  exit 0
fi
ESBUILD="node_modules/.pnpm/node_modules/.bin/esbuild"
[ -x "$ESBUILD" ] || { echo "build: esbuild is missing ($ESBUILD); run pnpm install" >&2; exit 1; }
mkdir -p pipeline/dist
tmp="$out.$$.tmp"
"$ESBUILD" pipeline/src/cli.ts --bundle --platform=node --format=esm --target=node20 \
  --outfile="$tmp" --log-level=warning --external:@duckdb/node-api \
  --banner:js="import { createRequire as __mrRequire } from 'node:module'; const require = __mrRequire(import.meta.url);" \
  || { rm -f "$tmp"; echo "build: bundling the pipeline CLI failed" >&2; exit 1; }
mv -f "$tmp" "$out"
