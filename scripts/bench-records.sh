#!/usr/bin/env bash
# `bedside bench records` on both backends: SQLite (a temp dir) and a throwaway PostgreSQL cluster
# started here with tests/postgres.py (Debian's binaries; `scripts/install.sh --tests` installs
# them). The cluster is stopped and its data removed when the bench ends, fails or is interrupted
# (and by its watchdog if this script is killed). Extra arguments go to the bench, e.g.
#   scripts/bench-records.sh --output docs/benchmarks-records.md
#   scripts/bench-records.sh --no-latency --calls 20000
# Note: the test cluster trades durability for speed (fsync off, see tests/postgres.py SETTINGS).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python - "$@" <<'PY'
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.postgres import PostgresServer

with tempfile.TemporaryDirectory(prefix="bedside-bench-pg-") as tmp, PostgresServer.create(Path(tmp)) as pg:
    print(f"bench-records.sh: throwaway PostgreSQL {pg.bindir.parent.name} at {pg.url()}", file=sys.stderr, flush=True)
    try:
        rc = subprocess.call([".venv/bin/bedside", "bench", "records", "--postgres-url", pg.url(), *sys.argv[1:]])
    except KeyboardInterrupt:
        rc = 130
sys.exit(rc)
PY
