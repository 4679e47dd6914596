#!/usr/bin/env bash
# Parity of the parse validator with the DuckDB oracle (pipeline/src/engines/duckdb-engine.ts,
# which judges lines with pipeline/src/validate/validator.ts):
#  - dead letters: `parse --check-file F` vs the oracle's dead-letters.ndjson (line + reason);
#  - valid events: `parse --check-file F --results R --window-seconds 1` vs the oracle's
#    results.json under the rules {"drop":[],"tag":[],"windowSeconds":1}, byte for byte
#    (byType/byUser check type, user and value; byWindow per second checks every ts).
# Inputs: the edge-case and fuzz corpus of pipeline/test, plus generated files over several
# seeds, distributions and invalid ratios. Ends with
#   PARITY: files=N lines=L deadLetters=D mismatches=M
# Usage: scripts/parity.sh [EVENTS_PER_GENERATED_FILE (default 200000)]   (PARITY_KEEP=1 keeps the files)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BIN="$HERE/../target/release/parse"
EVENTS="${1:-200000}"
WORK="$(mktemp -d /tmp/parse-parity.XXXXXX)"
if [ -z "${PARITY_KEEP:-}" ]; then trap 'rm -rf "$WORK"' EXIT; else echo "keeping $WORK"; fi

bash "$HERE/build.sh"
cd "$ROOT"
bash scripts/bootstrap.sh --quiet
CLI=(node --import tsx pipeline/src/cli.ts)
printf '{"drop":[],"tag":[],"windowSeconds":1}\n' >"$WORK/rules.json"

node --import tsx "$HERE/parity-corpus.ts" "$WORK/in" >/dev/null
gen() { # seed distribution invalid-ratio
  "${CLI[@]}" generate --events "$EVENTS" --seed "$1" --distribution "$2" --invalid-ratio "$3" \
    --out "$WORK/in/gen-$1-$2-$3.ndjson" >/dev/null
}
gen 3 uniform 0.3
gen 5 zipf 0.1
gen 9 burst 0.5
gen 13 uniform 0.02
gen 21 zipf 0.9

files=0 lines=0 dead=0 mismatches=0
for f in "$WORK"/in/*.ndjson; do
  name="$(basename "$f" .ndjson)"
  o="$WORK/oracle-$name"
  if ! "${CLI[@]}" run --mode duckdb --input "$f" --out "$o" --rules "$WORK/rules.json" >"$WORK/oracle.log" 2>&1; then
    cat "$WORK/oracle.log" >&2
    exit 1
  fi
  "$BIN" --check-file "$f" --results "$WORK/$name.results.json" --window-seconds 1 \
    >"$WORK/$name.dl" 2>"$WORK/$name.summary"
  # the oracle's dead letters as line + reason only, the form --check-file prints (no jq needed)
  node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n")) if (l) { const d = JSON.parse(l); console.log(JSON.stringify({ line: d.line, reason: d.reason })); }' \
    "$o/dead-letters.ndjson" >"$WORK/$name.expected"
  n="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).lines' "$WORK/$name.summary")"
  d="$(wc -l <"$WORK/$name.expected")"
  bad=0
  if ! cmp -s "$WORK/$name.dl" "$WORK/$name.expected"; then
    bad="$(diff "$WORK/$name.dl" "$WORK/$name.expected" | grep -c '^[<>]' || true)"
    echo "MISMATCH dead letters: $name ($bad differing lines)"
    diff "$WORK/$name.dl" "$WORK/$name.expected" | head -5
  fi
  if ! cmp -s "$WORK/$name.results.json" "$o/results.json"; then
    echo "MISMATCH results.json: $name"
    bad=$((bad + 1))
  fi
  files=$((files + 1)) lines=$((lines + n)) dead=$((dead + d)) mismatches=$((mismatches + bad))
  printf '%-28s lines=%-8s deadLetters=%-7s %s\n' "$name" "$n" "$d" "$([ "$bad" -eq 0 ] && echo ok || echo MISMATCH)"
done
echo "PARITY: files=$files lines=$lines deadLetters=$dead mismatches=$mismatches"
[ "$mismatches" -eq 0 ]
