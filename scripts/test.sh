#!/usr/bin/env bash
# The import contract, then the whole suite in two passes (`make test`; extra arguments go to both pytest runs):
#   1. everything but the SIP call tests, one process: model and unit tests use both cores;
#   2. the call tests (`-m call`), two at a time: a call test is mostly real-time audio on the
#      wire, so two of them share the cores without slowing each other's media (each runs its
#      own `bedside serve` on free ports; a test module stays on one worker, with its server).
#      12.5 min instead of the ~22 the calls take one by one (2 cores, 2026-12-02).
# Both passes always run, so one report shows every failure; the exit status is the first
# failing pass's. A pass that selects nothing (pytest exit 5, e.g. a path with no call tests)
# is not a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
CALL_WORKERS="${BEDSIDE_TEST_CALL_WORKERS:-2}"
status=0

run_pass() {
  "$PY" -m pytest -q -ra --durations=15 "$@"
  local rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$status" -eq 0 ]; then
    status=$rc
  fi
}

# The layer contract (pyproject.toml [tool.importlinter]; docs/architecture.md) first: seconds.
if ! .venv/bin/lint-imports --no-cache; then
  status=1
fi
run_pass -m "not call" "$@"
if [ "$CALL_WORKERS" -gt 1 ]; then
  run_pass -m call -n "$CALL_WORKERS" --dist loadfile "$@"
else
  run_pass -m call "$@"
fi
exit "$status"
