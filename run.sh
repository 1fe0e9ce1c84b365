#!/usr/bin/env bash
# The main job: install what fastnet needs (idempotent), then run the demo — a throw-away
# test network of two namespaces, the stack on one end, the Linux kernel pinging it from the
# other (see `python3 -m fastnet demo --help`).  Extra arguments go to `fastnet demo`.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
./scripts/install-deps.sh
exec "$PYTHON" -m fastnet demo "$@"
