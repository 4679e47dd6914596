#!/usr/bin/env bash
# Python for the rules stage (services/rules): a venv at services/rules/.venv with the pinned
# services/rules/requirements.txt, re-installed only when that file (or the Python) changed.
# Idempotent and fast when nothing changed. Called by scripts/bootstrap.sh with its --quiet flag.
set -euo pipefail
QUIET="${1:-}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SVC="$ROOT/services/rules"
VENV="$SVC/.venv"
REQ="$SVC/requirements.txt"
STAMP="$VENV/.requirements-hash"
say() { [ "$QUIET" = "--quiet" ] || echo "bootstrap/python: $*" >&2; }

# A Python >= 3.11: python3.11 if present, else python3.
PYTHON=""
for cand in python3.11 python3; do
  if command -v "$cand" >/dev/null 2>&1 \
     && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    PYTHON="$(command -v "$cand")"
    break
  fi
done
apt_install() {
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "bootstrap/python: need Debian packages $* but cannot install them (not root, no sudo)" >&2
    exit 1
  fi
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  say "installing $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if [ -z "$PYTHON" ]; then
  apt_install python3 python3-venv
  PYTHON="$(command -v python3)"
  "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { echo "bootstrap/python: services/rules needs Python >= 3.11, found $("$PYTHON" --version 2>&1)" >&2; exit 1; }
fi

# The venv: (re)create it when missing or when its interpreter no longer runs.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    ver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    apt_install "python${ver}-venv" || apt_install python3-venv
  fi
  say "creating $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi

# Requirements: re-install when requirements.txt or the interpreter changed.
HASH="$( { cat "$REQ"; "$VENV/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  say "installing services/rules/requirements.txt"
  if [ "$QUIET" = "--quiet" ]; then
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQ" >/dev/null
  else
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQ" >&2
  fi
  echo "$HASH" > "$STAMP"
fi

# `python -m rules_service` from any directory (the supervisor runs it from the repo root):
# a .pth file puts services/rules on the venv's path, relative to site-packages so the
# checkout can move.
"$VENV/bin/python" - "$SVC" <<'PY'
import os, sys, sysconfig
site = sysconfig.get_paths()["purelib"]
line = os.path.relpath(sys.argv[1], site) + "\n"
pth = os.path.join(site, "rules-service.pth")
try:
    same = open(pth).read() == line
except OSError:
    same = False
if not same:
    with open(pth, "w") as f:
        f.write(line)
PY
