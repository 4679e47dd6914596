#!/usr/bin/env bash
# Runs the monolith on every corpus/<name>.ndjson (with <name>.rules.json if present) and compares
# results.json and dead-letters.ndjson byte for byte with <name>.expected/ (checked by hand).
set -uo pipefail
BIN="$1"; DIR="$2"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
fail=0; n=0
for input in "$DIR"/*.ndjson; do
  name="$(basename "$input" .ndjson)"
  exp="$DIR/$name.expected"
  [ -d "$exp" ] || continue
  args=(--input "$input" --out "$TMP/$name" --threads 3 --batch-size 2)
  [ -f "$DIR/$name.rules.json" ] && args+=(--rules "$DIR/$name.rules.json")
  n=$((n + 1))
  if ! "$BIN" "${args[@]}" >/dev/null; then echo "FAIL $name: exit code $?"; fail=1; continue; fi
  for f in results.json dead-letters.ndjson; do
    if ! cmp -s "$exp/$f" "$TMP/$name/$f"; then
      echo "FAIL $name: $f differs"; diff <(cat "$exp/$f") <(cat "$TMP/$name/$f") | head -20; fail=1
    fi
  done
done
# Rules-file errors exit 2 before reading any event.
echo '{"drop":[{"field":"type","op":"like","value":"x"}]}' > "$TMP/bad-rules.json"
"$BIN" --input /nonexistent --out "$TMP/x" --rules "$TMP/bad-rules.json" 2>"$TMP/err"; rc=$?
if [ $rc -ne 2 ] || ! grep -q 'drop\[0\]: unknown op "like"' "$TMP/err"; then echo "FAIL bad rules: rc=$rc $(cat "$TMP/err")"; fail=1; fi
"$BIN" --input /nonexistent/in.ndjson --out "$TMP/x" 2>"$TMP/err"; rc=$?
if [ $rc -ne 2 ] || ! grep -q '/nonexistent/in.ndjson' "$TMP/err"; then echo "FAIL missing input: rc=$rc"; fail=1; fi
[ "$n" -gt 0 ] || { echo "no corpus files"; fail=1; }
echo "corpus: $n files checked"
exit $fail
