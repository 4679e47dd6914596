#!/usr/bin/env bash
# `npm test`: installs what is missing, then runs every suite (proto checks, type checks, unit and
# integration tests of each package and language, the browser tests in Debian's Chromium).
# `npm test -- server e2e` runs only the named suites.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
for hook in scripts/build.d/*.sh; do
  [ -e "$hook" ] || continue
  bash "$hook"
done
bash scripts/build-web.sh
exec node scripts/run-tests.mjs "$@"
