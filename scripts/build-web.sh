#!/usr/bin/env bash
# Builds the dashboard into web/dist when its sources (or the generated protos) changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
HASH="$(find web/src web/public web/index.html web/vite.config.ts web/package.json proto/gen -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
STAMP="web/dist/.source-hash"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]; then
  exit 0
fi
echo "building the dashboard (web/dist)…" >&2
pnpm --filter @modular-runtime/web exec vite build --logLevel warn >&2
echo "$HASH" > "$STAMP"
