"""Building the C stack's tools and XDP program from a test (make is a no-op when current).

scripts/install-deps.sh installs everything the build needs, so a failed build fails the
test (pytest.fail with the end of make's output) rather than skipping it.
"""
import subprocess
from pathlib import Path

import pytest

STACK = Path(__file__).resolve().parents[2] / "stack"


def make_stack(what, *targets, timeout=600):
    """Run `make -C stack -j2 TARGETS` (default: all bpf); fail the test naming `what`."""
    r = subprocess.run(["make", "-s", "-C", str(STACK), "-j2", *(targets or ("all", "bpf"))],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        pytest.fail(f"cannot build {what}: {(r.stdout + r.stderr)[-2000:]}")
