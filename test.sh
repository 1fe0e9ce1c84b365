#!/usr/bin/env bash
# Everything CI checks: install dependencies (idempotent), the C unit tests with
# -Wall -Wextra -Werror (stack/Makefile), again under ASan+UBSan (clang), a bounded run of
# each libFuzzer harness (fuzz-smoke), then the Python test suite.  Network tests create their own namespaces (198.18.0.0/15 only) and need
# root; they skip themselves otherwise.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
./scripts/install-deps.sh
make -C stack -j"$(nproc)" test
make -C stack -j"$(nproc)" SAN=1 test
make -C stack fuzz-smoke
exec "$PYTHON" -m pytest -q tests/
