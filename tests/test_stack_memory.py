"""fastnet._core.Stack over the in-memory link: two stacks in one process, no network.

The handle's basics, end to end through the Cython layer: construction from config dicts,
ARP resolution and ICMP echo (plain and fragmented) between the two stacks, the counters
(every name of fn_stack.h's list, plus backend.* and pool.*), properties, close() reporting
no leaked packet buffers (and being idempotent), argument errors, and run() returning after
its duration.  Skips when the extension is not built.
"""
import time

import pytest

core = pytest.importorskip("fastnet._core")


# --------------------------------------------------------------------------------------
# Stack over the in-memory link


@pytest.fixture
def pair():
    a, b = core.Stack.memory_pair({"ip": "198.18.5.1", "prefix_len": 24, "n_bufs": 256},
                                  {"ip": "198.18.5.2", "prefix_len": 24, "n_bufs": 256})
    yield a, b
    a.close()
    b.close()


def drive(a, b, rounds=50):
    for _ in range(rounds):
        a.poll()
        b.poll()


def test_stack_ping_over_memory_link(pair):
    a, b = pair
    a.ping("198.18.5.2", 0x1234, 1, b"hello fastnet")
    drive(a, b)
    for seq in range(2, 12):
        a.ping("198.18.5.2", 0x1234, seq, bytes(range(200)))
    drive(a, b)
    assert sorted(a.ping_replies()) == [(0x1234, s) for s in range(1, 12)]
    assert a.ping_replies() == []
    assert a.arp_lookup("198.18.5.2") == b.mac
    assert b.arp_lookup("198.18.5.1") == a.mac
    sb = b.stats()
    assert sb["icmp_echo_replied"] == 11


def test_stack_fragmented_ping_over_memory_link(pair):
    a, b = pair
    a.ping("198.18.5.2", 7, 1, bytes(range(256)) * 16)    # 4096 B: 3 fragments each way
    drive(a, b)
    assert a.ping_replies() == [(7, 1)]
    assert b.stats()["frag_reassembled"] == 1
    assert a.stats()["frag_reassembled"] == 1


def test_stack_stats_names_and_properties(pair):
    a, _ = pair
    s = a.stats()
    names = core.stats_descriptions()
    assert names and set(names) <= set(s)
    for k in ("eth_rx", "eth_tx", "arp_rx", "ip_rx", "icmp_echo_replied", "drop_nobuf"):
        assert k in s
    assert any(k.startswith("backend.") for k in s)
    assert any(k.startswith("pool.") for k in s)
    assert a.mtu == 1500
    assert len(a.mac.split(":")) == 6
    assert a.fileno() == -1                    # the memory link has no fd


def test_stack_close_reports_no_leak_and_is_idempotent():
    a, b = core.Stack.memory_pair({"ip": "198.18.6.1", "n_bufs": 128},
                                  {"ip": "198.18.6.2", "n_bufs": 128})
    a.ping("198.18.6.2", 1, 1, b"x" * 3000)
    drive(a, b)
    assert a.ping_replies() == [(1, 1)]
    assert a.close() == 0
    assert b.close() == 0
    assert a.close() == 0
    with pytest.raises(Exception):
        a.poll()


def test_stack_rejects_bad_arguments():
    with pytest.raises((TypeError, ValueError)):
        core.Stack.memory_pair({"ip": "198.18.6.1", "no_such_knob": 1}, {"ip": "198.18.6.2"})
    with pytest.raises((TypeError, ValueError)):
        core.Stack.memory_pair({"ip": "198.18.6.300"}, {"ip": "198.18.6.2"})


def test_stack_run_returns_after_duration(pair):
    a, b = pair
    t0 = time.monotonic()
    a.run(0.2)
    assert 0.15 <= time.monotonic() - t0 < 2.0


# memory_pair's docstring promises fault/pcap entries in the per-side dicts (the network
# simulation needs seeded impairment between two stacks), but they reach the knob table and
# are refused.  Remove the marker when memory_pair() wraps the link ends.
def test_memory_pair_fault_and_pcap(tmp_path):
    pcap = tmp_path / "a.pcap"
    a, b = core.Stack.memory_pair(
        {"ip": "198.18.7.1", "n_bufs": 128, "pcap": str(pcap),
         "fault": {"seed": 3, "tx_drop": 1.0}},
        {"ip": "198.18.7.2", "n_bufs": 128})
    try:
        a.ping("198.18.7.2", 1, 1, b"x")
        drive(a, b)
        assert a.ping_replies() == []
        assert a.stats()["backend.fault_dropped"] >= 1
        assert b.stats()["eth_rx"] == 0
    finally:
        assert a.close() == 0
        assert b.close() == 0
    data = pcap.read_bytes()
    assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                        b"\xa1\xb2\x3c\x4d")
    assert len(data) > 24
