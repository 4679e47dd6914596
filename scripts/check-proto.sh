#!/usr/bin/env bash
# Proto hygiene: buf lint, buf format, a breaking-change check against the previous commit, and
# proof that proto/gen matches what buf.gen.yaml generates today.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUF="proto/node_modules/.bin/buf"
fail=0

echo "== buf lint"
(cd proto && "../$BUF" lint) || fail=1

echo "== buf format"
(cd proto && "../$BUF" format --diff --exit-code) || { echo "run: (cd proto && buf format -w)"; fail=1; }

echo "== buf breaking (against the previous commit)"
if git rev-parse --verify -q HEAD~1 >/dev/null && git cat-file -e HEAD~1:proto/buf.yaml 2>/dev/null; then
  "$BUF" breaking proto --against ".git#ref=HEAD~1,subdir=proto" || fail=1
else
  echo "no earlier commit with proto/ to compare against"
fi

echo "== generated code is fresh"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
sed "s#out: proto/gen/ts#out: $TMP/ts#" buf.gen.yaml > "$TMP/buf.gen.yaml"
"$BUF" generate --template "$TMP/buf.gen.yaml"
if ! diff -r "$TMP/ts" proto/gen/ts >/dev/null; then
  diff -r "$TMP/ts" proto/gen/ts | head -20
  echo "proto/gen is stale: run \`pnpm gen\` and commit the result"
  fail=1
else
  echo "proto/gen matches the protos"
fi
exit $fail
