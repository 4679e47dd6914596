#!/usr/bin/env bash
# Runs the rules stage's tests (pytest) and ends with exactly one line
#   TESTS: passed=N failed=M skipped=K
# Exits non-zero when anything failed (or nothing ran). Extra arguments go to pytest.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$HERE/scripts/build.sh"
cd "$HERE"
REPORT="$(mktemp)"
trap 'rm -f "$REPORT"' EXIT
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider --junitxml="$REPORT" tests "$@"
rc=$?
set -e
read -r passed failed skipped < <(.venv/bin/python - "$REPORT" <<'PY'
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except Exception:
    print(0, 1, 0)
    sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - failed - skipped, failed, skipped)
PY
)
echo "TESTS: passed=$passed failed=$failed skipped=$skipped"
if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi
