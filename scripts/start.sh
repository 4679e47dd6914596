#!/usr/bin/env bash
# `npm start`: installs what is missing, builds what changed, then runs the control server, which
# starts every process in runtime.yaml and serves the dashboard on http://localhost:3000.
# Extra arguments go to the server: `npm start -- --http-port 3100 --config my.yaml`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
for hook in scripts/build.d/*.sh; do
  [ -e "$hook" ] || continue
  bash "$hook"
done
bash scripts/build-web.sh
exec node --import tsx server/src/main.ts "$@"
