#!/usr/bin/env bash
# Runs the Celery side of the W8 bench against the redis-server at $1:
# a venv in the target directory with celery[redis] from the package
# registry (created once), then celery_bench.py. Prints its JSON line.
# Exit 3: Celery could not be installed (the bench reports it skipped).
set -euo pipefail
url=$1
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../../../target}
venv=$target/celery-venv
if [ ! -x "$venv/bin/celery" ]; then
    python3 -m venv "$venv" >&2 || exit 3
    "$venv/bin/pip" install --quiet 'celery[redis]>=5.4,<6' >&2 || exit 3
fi
cd "$here"
MP_BENCH_REDIS_URL=$url exec "$venv/bin/python" celery_bench.py
