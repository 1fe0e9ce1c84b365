"""Where the Pythons besides CI's python3 (3.11) are: the interpreters fastnet must also build
and run its loop on (issue 5: Python 3.11 to 3.13).

find(version) returns the path of a working interpreter of that X.Y version or None.  It looks,
in order, at $PYTHON3XX (an explicit choice: when set it must be that version, or ValueError),
`pythonX.Y` on PATH, then /root/.pyenv/versions/X.Y*/bin/python3 (newest patch first).  A
candidate counts only when running it reports that version: a pyenv shim on PATH for a version
that is not active exits with an error and is passed over.

Run as a script (scripts/install-deps.sh does), it prints one `X.Y PATH` line per version it
finds, so the installer and tests/test_pyversions.py agree on the interpreters.
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys

EXTRA_VERSIONS = ("3.12", "3.13")
PYENV_ROOT = "/root/.pyenv/versions"


def reported_version(path: str) -> str | None:
    """The X.Y that `path` says it is, or None when it does not run."""
    try:
        r = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def _patch_key(path: str) -> tuple[int, ...]:
    m = re.search(r"/(\d+(?:\.\d+)*)[^/]*/bin/python3$", path)
    return tuple(int(p) for p in m.group(1).split(".")) if m else ()


def find(version: str) -> str | None:
    var = "PYTHON" + version.replace(".", "")
    chosen = os.environ.get(var)
    if chosen:
        got = reported_version(chosen)
        if got != version:
            raise ValueError(f"${var}={chosen} is not a working Python {version} "
                             f"(it reports {got or 'nothing'})")
        return chosen
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.join(PYENV_ROOT, f"{version}*", "bin", "python3")),
                         key=_patch_key, reverse=True)
    for c in candidates:
        if c and reported_version(c) == version:
            return c
    return None


def main() -> int:
    for v in EXTRA_VERSIONS:
        path = find(v)
        if path:
            print(v, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
