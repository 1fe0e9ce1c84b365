#!/usr/bin/env bash
# The main job: install what fastnet needs (idempotent), then run the demo — a throw-away
# test network of two namespaces, the HTTP echo app on fastnet in one (af_xdp, falling back
# to af_packet, then tap), a short locust load from the Linux kernel in the other, the
# results printed, and everything removed at the end or on Ctrl-C (see
# `python3 -m fastnet demo --help`; `--ping` is the older ping demo).  Extra arguments go to
# `fastnet demo`; the exit status is the demo's (non-zero on any failed request).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
./scripts/install-deps.sh
exec "$PYTHON" -m fastnet demo "$@"
