#!/usr/bin/env bash
# Fetches the llhttp C parser the native HTTP echo server is built with, into BUILD_DIR
# (default: build/ next to this script; never committed).
#
# Source: the httptools sdist from PyPI, which vendors llhttp's generated C release
# (vendor/llhttp/{include,src}, MIT).  Debian bookworm packages neither llhttp nor
# picohttpparser, and the sdist is the same parser the asyncio app uses through httptools,
# so both variants parse alike.  The version is pinned and the archive checked by SHA-256.
# Idempotent: does nothing when BUILD_DIR/llhttp holds this version already (all of it).
# Exit status: 0, or 1 with the reason on stderr (no network, bad checksum, no pip).
set -euo pipefail

HTTPTOOLS_VERSION=0.9.0     # vendors llhttp 9.4.3
SHA256=d484ebb7e3a3f3597b0f645fbd1b85633674ca808c1f5ba11c2caf7c66f5c8b6
PYTHON=${PYTHON:-python3}
BUILD_DIR=${1:-$(dirname "$0")/build}
DEST=$BUILD_DIR/llhttp

have=1
for f in include/llhttp.h src/api.c src/http.c src/llhttp.c; do
    [ -f "$DEST/$f" ] || have=0
done
[ $have = 1 ] && [ "$(cat "$DEST/.httptools-version" 2>/dev/null)" = "$HTTPTOOLS_VERSION" ] \
    && exit 0
mkdir -p "$BUILD_DIR"
tmp=$(mktemp -d "$BUILD_DIR/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# pip prepares the sdist's metadata in an isolated build environment; its chatter goes to a
# log that is shown only when the download fails.
"$PYTHON" -m pip download -q --disable-pip-version-check --no-binary :all: --no-deps \
    -d "$tmp" "httptools==$HTTPTOOLS_VERSION" >"$tmp/pip.log" 2>&1 || {
    cat "$tmp/pip.log" >&2
    echo "fetch_llhttp: pip download httptools==$HTTPTOOLS_VERSION failed" >&2
    exit 1
}
sdist=$tmp/httptools-$HTTPTOOLS_VERSION.tar.gz
echo "$SHA256  $sdist" | sha256sum -c --quiet - >&2 || {
    echo "fetch_llhttp: checksum mismatch for $sdist" >&2
    exit 1
}
tar -xzf "$sdist" -C "$tmp" "httptools-$HTTPTOOLS_VERSION/vendor/llhttp"
rm -rf "$DEST"
mv "$tmp/httptools-$HTTPTOOLS_VERSION/vendor/llhttp" "$DEST"
echo "$HTTPTOOLS_VERSION" >"$DEST/.httptools-version"
