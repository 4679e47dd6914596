#!/usr/bin/env bash
# Installs everything the project needs on a machine of this kind, idempotently:
# Debian packages, pnpm, the workspace's npm packages and each language's dependencies.
# Fast when nothing is missing. Usage: scripts/bootstrap.sh [--quiet]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUIET="${1:-}"
say() { [ "$QUIET" = "--quiet" ] || echo "bootstrap: $*" >&2; }

# --- Debian packages -------------------------------------------------------------------------
APT_PACKAGES=(chromium)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "bootstrap: need Debian packages ${missing[*]} but cannot install them (not root, no sudo)" >&2
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- pnpm ------------------------------------------------------------------------------------
if ! command -v pnpm >/dev/null 2>&1; then
  say "installing pnpm"
  npm install -g pnpm@10 >/dev/null 2>&1 || { echo "bootstrap: 'npm install -g pnpm@10' failed" >&2; exit 1; }
fi

# --- workspace npm packages (re-run only when the lockfile changed) ---------------------------
STAMP="node_modules/.bootstrap-lock-hash"
LOCK_HASH="$(cat pnpm-lock.yaml package.json */package.json services/*/package.json 2>/dev/null | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$LOCK_HASH" ]; then
  say "installing npm packages with pnpm"
  if [ -f pnpm-lock.yaml ]; then
    pnpm install --frozen-lockfile --reporter=append-only >&2
  else
    pnpm install --reporter=append-only >&2
  fi
  echo "$LOCK_HASH" > "$STAMP"
fi

# --- per-language extras -----------------------------------------------------------------------
for hook in scripts/bootstrap.d/*.sh; do
  [ -e "$hook" ] || continue
  bash "$hook" "$QUIET"
done
