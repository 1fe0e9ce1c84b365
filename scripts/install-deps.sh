#!/usr/bin/env bash
# Installs what fastnet needs to build, run and test, then installs fastnet itself
# (`pip install -e .`).  Idempotent and non-interactive: safe to run again, as root, in CI.
#
#   Debian packages: compilers and BPF toolchain (gcc, clang, llvm, pkg-config, clang's
#   sanitizer runtime for `make SAN=1`), libxdp/libbpf
#   and their dependencies, the network tools the tests and the demo drive (iproute2,
#   nftables, ethtool, tcpdump, ping, nc, hping3, curl), wrk, valgrind (callgrind, for
#   bench/tcp_rx_cost.py), nginx-light with its echo module (libnginx-mod-http-echo; the
#   kernel comparison point of bench/http_bench.py, never started as a service here), and
#   python3-dev when the running Python has no headers.
#   `apt-get update` runs only when a package is missing.
#   Python packages: cython, setuptools, wheel (build), pytest, scapy, cryptography (tests:
#   the TLS certificates of the loop parity suite), uvloop, locust (benchmarks), httptools
#   (the HTTP parser of apps/http_echo), matplotlib (the plots of bench/http_bench.py),
#   aiohttp, uvicorn, h11 and wsproto (tests/test_frameworks.py: third-party frameworks), for
#   the python3 on PATH; cython, setuptools, pytest, uvloop, httptools for each other Python
#   CI checks (3.12, 3.13: tests/helpers/pyversions.py finds them; tests/test_pyversions.py
#   builds and tests fastnet with them).
#   llhttp's C sources for the native HTTP echo server (apps/http_echo/native/fetch_llhttp.sh:
#   the pinned httptools sdist from PyPI, checked by SHA-256, unpacked into that build dir).
#
# Environment: PYTHON (default python3); PYTHON312, PYTHON313 name the other Pythons.
# FASTNET_SKIP_APT=1 skips the Debian part.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export DEBIAN_FRONTEND=noninteractive

log() { printf 'install-deps: %s\n' "$*" >&2; }

APT_PKGS=(
    build-essential gcc make clang llvm pkg-config libclang-rt-14-dev
    libxdp-dev libbpf-dev libelf-dev zlib1g-dev libssl-dev
    iproute2 nftables ethtool tcpdump iputils-ping netcat-openbsd hping3 wrk curl
    valgrind openssl nginx-light libnginx-mod-http-echo linux-perf
)

if ! "$PYTHON" - <<'PY' 2>/dev/null
import os, sysconfig, sys
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)
PY
then
    APT_PKGS+=(python3-dev)
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi

if [ "${FASTNET_SKIP_APT:-0}" != 1 ]; then
    missing=()
    for p in "${APT_PKGS[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "apt-get install: ${missing[*]}"
        "${SUDO[@]}" apt-get update -q
        # nginx's package would start a web server on port 80; the benchmark runs its own
        # in a test namespace.  A policy-rc.d that says no keeps services from starting
        # during the install (only when the machine has none of its own).
        policy=/usr/sbin/policy-rc.d
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
            "${SUDO[@]}" chmod 755 "$policy"
            trap '"${SUDO[@]}" rm -f "$policy"' EXIT
        fi
        "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        log "Debian packages: all present"
    fi
fi

# pip_for PY: sets PIP to the quiet `pip install` command of interpreter PY.
pip_for() {
    PIP=("$1" -m pip install -q --disable-pip-version-check)
    if "$1" -m pip install --help 2>/dev/null | grep -q -- '--break-system-packages'; then
        # Debian's own python3 refuses system-wide installs without this (PEP 668); a pyenv
        # or venv Python ignores the marker anyway.
        if [ -e "$("$1" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')/EXTERNALLY-MANAGED" ]; then
            PIP+=(--break-system-packages)
        fi
    fi
}

# pip_install PY PKG...: installs PKG... into interpreter PY unless it has them all already
# (then pip does not run at all).
pip_install() {
    local py=$1
    shift
    if "$py" - "$@" <<'PY'
import sys
from importlib import metadata
import re
for spec in sys.argv[1:]:
    name = re.split(r"[<>=!]", spec)[0]
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
PY
    then
        log "Python packages ($py): all present"
    else
        log "pip install ($py): $*"
        pip_for "$py"
        "${PIP[@]}" "$@"
    fi
}

PY_PKGS=("cython>=3.0" "setuptools>=64" wheel pytest scapy cryptography uvloop locust httptools matplotlib "aiohttp>=3.9,<4" "uvicorn>=0.29,<1" h11 wsproto)
pip_install "$PYTHON" "${PY_PKGS[@]}"

# The other Pythons CI checks (tests/test_pyversions.py builds the extension with each and
# runs the loop tests): what setup.py and those tests import.  The project is not installed
# into them; the test builds a private copy.
EXTRA_PY_PKGS=("cython>=3.0" "setuptools>=64" pytest uvloop httptools)
# (A command substitution, not a process one: a bad $PYTHON312/$PYTHON313 stops the script.)
extra_pythons=$("$PYTHON" tests/helpers/pyversions.py)
while read -r ver py; do
    [ -n "$ver" ] || continue
    log "extra Python $ver: $py"
    pip_install "$py" "${EXTRA_PY_PKGS[@]}"
done <<< "$extra_pythons"

log "llhttp for apps/http_echo/native"
PYTHON="$PYTHON" apps/http_echo/native/fetch_llhttp.sh

pip_for "$PYTHON"
# The project itself, editable: the C stack and the extension are (re)built from this tree.
# No build isolation: the build dependencies were installed just above, and this keeps the
# step offline-capable and fast on a second run.
log "pip install -e . (builds the C stack and fastnet._core)"
"${PIP[@]}" --no-build-isolation -e .
"$PYTHON" -c 'import fastnet._core' || { log "fastnet._core does not import"; exit 1; }
# pyenv finds new console scripts (the `fastnet` command) only after a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi
log "done"
