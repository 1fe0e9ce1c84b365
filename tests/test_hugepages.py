"""The packet buffer pool sits on 2 MB hugepages when some are reserved, and falls back to
plain pages when none are (issue 2: "on 2 MB hugepages when available").  The test reserves
pages itself and gives them back."""
import os
from pathlib import Path

import pytest

core = pytest.importorskip("fastnet._core")
NR = Path("/proc/sys/vm/nr_hugepages")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not NR.exists(),
                                reason="needs root and hugetlb to reserve hugepages")


@pytest.fixture
def reserved_hugepages():
    before = int(NR.read_text())
    NR.write_text(str(before + 8))
    try:
        if int(NR.read_text()) < before + 4:
            pytest.skip("the kernel could not reserve hugepages (memory fragmented)")
        yield
    finally:
        NR.write_text(str(before))


def _pair(**knobs):
    return core.Stack.memory_pair({"ip": "198.18.6.1", "n_bufs": 1024, **knobs},
                                  {"ip": "198.18.6.2", "n_bufs": 1024, "hugepages": 0})


def test_pool_on_hugepages_when_reserved(reserved_hugepages):
    a, b = _pair(hugepages=1)
    try:
        assert a.stats()["pool.hugepages"] == 1
        assert b.stats()["pool.hugepages"] == 0
        a.ping("198.18.6.2", 1, 1, b"on hugepages")
        for _ in range(20):
            a.poll()
            b.poll()
        assert a.ping_replies() == [(1, 1)]
    finally:
        assert a.close() == 0
        assert b.close() == 0


def test_pool_falls_back_to_plain_pages():
    if int(NR.read_text()) != 0:
        pytest.skip("hugepages are reserved on this machine; the fallback cannot be shown")
    a, b = _pair(hugepages=1)
    try:
        assert a.stats()["pool.hugepages"] == 0
    finally:
        a.close()
        b.close()
