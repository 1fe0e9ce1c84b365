"""fastnet.config and the `fastnet` command line, without the network.

The configuration is parsed and validated in Python before the C layer is touched, so most
of this runs without the extension: TOML sections and keys, types and ranges, addresses,
cross-key checks, flags overriding the file, the one-line errors (each naming its key) and
the exit status 2 of `fastnet up` for a bad configuration, and `fastnet stat` on a stats
file.  The few tests that need fastnet._core (defaults equal to fn_config_defaults(), a
backend that fails to open) skip when it is not built.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastnet import cli, config
from fastnet.config import KEYS, ConfigError, load

ROOT = Path(__file__).resolve().parents[1]
BASE = {"port.iface": "fn0", "port.ip": "198.18.0.1/24"}


def fastnet(*args, timeout=30):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "fastnet", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def write(tmp_path, text, name="fastnet.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def require_core():
    try:
        from fastnet import _core
    except ImportError as e:
        pytest.fail(f"fastnet._core not built (scripts/install-deps.sh builds it): {e}")
    return _core


# --- the table of keys and its documentation -------------------------------------------


def test_keys_are_unique_and_flags_distinct():
    dotted = [k.dotted for k in KEYS]
    assert len(dotted) == len(set(dotted))
    flags = [k.cli_flag for k in KEYS]
    assert len(flags) == len(set(flags))
    targets = [k.target for k in KEYS if k.target]
    assert len(targets) == len(set(targets))


def test_every_key_documented_with_default():
    doc = (ROOT / "docs" / "config.md").read_text()
    for sec in config.SECTIONS:
        assert f"## [{sec}]" in doc, sec
    for k in KEYS:
        if k.section == "fault" and k.name[:3] in ("rx_", "tx_"):
            # documented once as the rx_/tx_ rule, next to the unprefixed key
            assert f"`{k.name[3:]}`" in doc
            continue
        rows = [ln for ln in doc.splitlines() if ln.startswith(f"| `{k.name}` |")]
        assert rows, f"{k.dotted} missing from docs/config.md"
        if k.default is None:
            want = "required" if k.required else "none"
        elif isinstance(k.default, bool):
            want = "true" if k.default else "false"
        elif isinstance(k.default, str):
            want = f'"{k.default}"'
        else:
            want = str(k.default)
        assert any(f"| {want} |" in r for r in rows), f"{k.dotted}: default {want} not in docs"


def test_knob_defaults_match_c():
    core = require_core()
    c = core.config_defaults()
    addressing = {"ip", "prefix_len", "gateway", "mtu"}
    ours = {k.target: k for k in KEYS if k.knob}
    for name, val in c.items():
        if name in addressing:
            continue
        assert name in ours, f"fn_config.{name} has no configuration key"
        assert config.KNOB_DEFAULTS[name] == val, f"{ours[name].dotted}: {val} in C"
    for name in ours:
        assert name in c, f"{ours[name].dotted} maps to {name}, not a fn_config field"


def test_cc_names_match_c():
    # tcp.congestion's names are, in order, the C registry's (the index is the tcp_cc knob).
    core = require_core()
    assert core.cc_algorithms() == config.CC_ALGORITHMS


# --- parsing and mapping ---------------------------------------------------------------


def test_minimal_file_maps_to_stack_kwargs(tmp_path):
    p = write(tmp_path, '[port]\niface = "fn0"\nip = "198.18.0.1/24"\n')
    cfg = load(p)
    kw = cfg.stack_kwargs()
    assert kw == {"backend": "af_packet", "iface": "fn0", "ip": "198.18.0.1", "prefix_len": 24,
                  "gateway": None, "mtu": 0, "queue": 0, "xdp_mode": "auto",
                  "napi_poll": False, "napi_hold_us": 200, "rx_moderation": "auto",
                  "xdp_obj_path": None, "pcap": None, "fault": None}
    assert cfg.stats_file == "/run/fastnet/fn0.json"
    assert cfg.stats_interval == 1.0 and cfg.log_level == "info"


def test_full_file(tmp_path):
    p = write(tmp_path, f"""
[port]
iface = "fn0"
backend = "af_xdp"
ip = "198.18.4.10/22"
gateway = "198.18.7.254"
mtu = 1400
queue = 1
xdp_mode = "skb"
core = 0
[buffers]
count = 8192
size = 4096
hugepages = false
rx_batch = 64
[arp]
cache_size = 512
reachable_ms = 10000
retry_ms = 200
max_retries = 5
queue_max = 4
gratuitous = 0
[ip]
default_ttl = 32
reass_max_datagrams = 0
reass_max_size = 9000
reass_timeout_ms = 5000
reass_max_frags = 16
[icmp]
err_rate_per_s = 0
[tcp]
rcvbuf = 262144
nodelay = true
[pcap]
path = "{tmp_path}/cap.pcap"
[log]
level = "debug"
[stats]
file = "{tmp_path}/s.json"
interval = 0.25
""")
    kw = load(p).stack_kwargs()
    assert kw["backend"] == "af_xdp" and kw["ip"] == "198.18.4.10" and kw["prefix_len"] == 22
    assert kw["gateway"] == "198.18.7.254" and kw["mtu"] == 1400 and kw["queue"] == 1
    assert kw["xdp_mode"] == "skb" and kw["pcap"] == f"{tmp_path}/cap.pcap"
    assert kw["core"] == 0
    assert (kw["n_bufs"], kw["buf_size"], kw["hugepages"], kw["rx_batch"]) == (8192, 4096, 0, 64)
    assert kw["arp_cache_size"] == 512 and kw["arp_retry_ms"] == 200
    assert kw["arp_max_retries"] == 5 and kw["arp_queue_max"] == 4
    assert kw["arp_reachable_ms"] == 10000 and kw["gratuitous_arp"] == 0
    assert kw["default_ttl"] == 32 and kw["reass_max_datagrams"] == 0
    assert kw["reass_max_size"] == 9000 and kw["reass_timeout_ms"] == 5000
    assert kw["reass_max_frags"] == 16 and kw["icmp_err_rate_per_s"] == 0
    assert kw["tcp_rcvbuf"] == 262144 and kw["tcp_nodelay"] == 1
    assert "tcp_sndbuf" not in kw  # not set: the C default applies


def test_only_explicit_knobs_are_passed():
    kw = load(None, dict(BASE, **{"arp.retry_ms": "500"})).stack_kwargs()
    knobs = {k.target for k in KEYS if k.knob}
    assert {k for k in kw if k in knobs} == {"arp_retry_ms"}


def test_congestion_name_maps_to_cc_index(tmp_path):
    # tcp.congestion names the algorithm; the C knob tcp_cc holds its FN_CC_* index
    # (FN_CC_NEWRENO 0, FN_CC_CUBIC 1 in fn_config.h; cubic is the C default).
    assert config.CC_ALGORITHMS == ("newreno", "cubic")
    assert config.KNOB_DEFAULTS["tcp_cc"] == 1
    p = write(tmp_path, '[port]\niface = "fn0"\nip = "198.18.0.1/24"\n'
                        '[tcp]\ncongestion = "newreno"\n')
    assert load(p).stack_kwargs()["tcp_cc"] == 0
    kw = load(None, dict(BASE, **{"tcp.congestion": "cubic"})).stack_kwargs()
    assert kw["tcp_cc"] == 1
    assert "tcp_cc" not in load(None, BASE).stack_kwargs()  # not set: the C default applies
    with pytest.raises(ConfigError, match=r"^tcp\.congestion: 'reno' is not one of newreno, "
                                          r"cubic$"):
        load(None, dict(BASE, **{"tcp.congestion": "reno"}))


def test_flags_override_file(tmp_path):
    p = write(tmp_path, '[port]\niface = "fn0"\nip = "198.18.0.1/24"\nmtu = 1400\n'
                        '[arp]\nretry_ms = 100\n[fault]\ndrop = 0.5\n')
    cfg = load(p, {"port.mtu": "1300", "port.iface": "fn9", "fault.drop": "0",
                   "arp.retry_ms": None})
    kw = cfg.stack_kwargs()
    assert kw["mtu"] == 1300 and kw["iface"] == "fn9"
    assert kw["arp_retry_ms"] == 100  # None = flag not given: the file's value stays
    assert kw["fault"] is None
    assert cfg.stats_file == "/run/fastnet/fn9.json"


def test_flags_override_file_through_cli(tmp_path):
    p = write(tmp_path, '[port]\niface = "fn0"\nip = "198.18.0.1/24"\nbackend = "tap"\n'
                        '[buffers]\ncount = 100\n')
    r = fastnet("up", "--config", str(p), "--backend", "af_packet", "--buffers-count", "200",
                "--ip", "198.18.1.1/16", "--dry-run")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["stack_kwargs"]["backend"] == "af_packet"
    assert out["stack_kwargs"]["n_bufs"] == 200
    assert out["stack_kwargs"]["ip"] == "198.18.1.1"
    assert out["stack_kwargs"]["prefix_len"] == 16
    assert out["config"]["port.iface"] == "fn0"


def test_cli_napi_poll_flag_alone_turns_it_on():
    base = ("up", "--iface", "fn0", "--ip", "198.18.0.1/24", "--backend", "af_xdp",
            "--dry-run")
    r = fastnet(*base, "--napi-poll", "--napi-hold-us", "400")
    assert r.returncode == 0, r.stderr
    kw = json.loads(r.stdout)["stack_kwargs"]
    assert kw["napi_poll"] is True and kw["napi_hold_us"] == 400
    r = fastnet(*base, "--napi-poll", "false")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["stack_kwargs"]["napi_poll"] is False
    r = fastnet(*base[:-2], "af_packet", "--napi-poll", "--dry-run")
    assert r.returncode == 2
    assert r.stderr == ("fastnet: config error: port.napi_poll: needs port.backend af_xdp, "
                        "not af_packet\n")


def test_cli_strings_are_converted():
    cfg = load(None, dict(BASE, **{"buffers.hugepages": "off", "arp.gratuitous": "yes",
                                   "buffers.count": "0x1000", "stats.interval": "0.5",
                                   "port.gateway": "198.18.0.254"}))
    kw = cfg.stack_kwargs()
    assert kw["hugepages"] == 0 and kw["gratuitous_arp"] == 1 and kw["n_bufs"] == 4096
    assert kw["gateway"] == "198.18.0.254" and cfg.stats_interval == 0.5


def test_fault_both_directions_and_overrides():
    f = load(None, dict(BASE, **{"fault.seed": "7", "fault.drop": "0.01",
                                 "fault.rx_drop": "0.2", "fault.tx_delay_ms": "5",
                                 "fault.rate_bps": "1000000"})).fault()
    assert f["seed"] == 7
    assert f["rx_drop"] == 0.2 and f["tx_drop"] == 0.01
    assert f["tx_delay_ms"] == 5 and f["tx_delay"] == 1.0  # delay_ms alone delays every frame
    assert f["rx_delay_ms"] == 0 and f["rx_delay"] == 0.0
    assert f["rx_rate_bps"] == f["tx_rate_bps"] == 1000000
    keys = {f"{d}_{n}" for d in ("rx", "tx") for n in ("drop", "dup", "reorder", "corrupt",
                                                        "delay", "delay_ms", "rate_bps",
                                                        "burst_bytes")}
    assert set(f) == keys | {"seed"}


def test_fault_seed_alone_inserts_nothing():
    assert load(None, dict(BASE, **{"fault.seed": "3"})).fault() is None


def test_fault_delay_probability_with_delay_ms(tmp_path):
    p = write(tmp_path, '[port]\niface = "fn0"\nip = "198.18.0.1/24"\n'
                        '[fault]\ndelay = 0.5\ndelay_ms = 10\n')
    f = load(p).fault()
    assert f["rx_delay"] == f["tx_delay"] == 0.5 and f["rx_delay_ms"] == 10


# --- errors: one line, naming the key ---------------------------------------------------

ERRORS = [
    # (file body appended to a valid [port], expected message start)
    ("[port]\nip = \"198.18.0.300/24\"", "port.ip: '198.18.0.300/24' is not an IPv4 "
                                         "address with prefix"),
    ("[port]\nip = \"198.18.0.1\"", "port.ip: '198.18.0.1' is not an IPv4 address with "
                                    "prefix"),
    ("[port]\nip = \"198.18.0.1/33\"", "port.ip:"),
    ("[port]\nip = \"224.0.0.1/24\"", "port.ip:"),
    ("[port]\nip = \"198.18.0.255/24\"", "port.ip: 198.18.0.255/24 is the broadcast"),
    ("[port]\nip = 5", "port.ip: 5 is not a string"),
    ("[port]\ngateway = \"198.18.1.1\"", "port.gateway: 198.18.1.1 is not inside "
                                         "198.18.0.0/24"),
    ("[port]\ngateway = \"198.18.0.1\"", "port.gateway: 198.18.0.1 is our own address"),
    ("[port]\ngateway = \"nope\"", "port.gateway: 'nope' is not an IPv4 address"),
    ("[port]\nbackend = \"dpdk\"", "port.backend: 'dpdk' is not one of af_xdp, af_packet, tap"),
    ("[port]\nxdp_mode = \"hw\"", "port.xdp_mode:"),
    ("[port]\nxdp_obj = \"/nonexistent/x.o\"", "port.xdp_obj:"),
    ("[port]\nnapi_poll = true", "port.napi_poll: needs port.backend af_xdp, not af_packet"),
    ("[port]\nnapi_poll = 1.5", "port.napi_poll: 1.5 is not a boolean"),
    ("[port]\nbackend = \"af_xdp\"\nnapi_hold_us = 0", "port.napi_hold_us: 0 is out of range "
                                                    "1..100000"),
    ("[port]\nnapi_hold_us = 100001", "port.napi_hold_us: 100001 is out of range"),
    ("[port]\nmtu = \"1500\"", "port.mtu: '1500' is not an integer"),
    ("[port]\nmtu = 1500.0", "port.mtu: 1500.0 is not an integer"),
    ("[port]\nmtu = true", "port.mtu: True is not an integer"),
    ("[port]\nmtu = 60", "port.mtu: 60 is below the IPv4 minimum"),
    ("[port]\nmtu = 9000", "port.mtu: 9000 does not fit in buffers.size 2048"),
    ("[port]\nmtu = 70000", "port.mtu: 70000 is out of range 0..65535"),
    ("[port]\nqueue = -1", "port.queue: -1 is out of range"),
    ("[port]\niface = \"averyveryverylongname\"", "port.iface:"),
    ("[port]\niface = \"a/b\"", "port.iface:"),
    ("[port]\ncore = -2", "port.core:"),
    ("[buffers]\ncount = 0", "buffers.count: 0 is out of range"),
    ("[buffers]\nsize = 3000", "buffers.size: 3000 is not a power of two"),
    ("[buffers]\nsize = 512", "buffers.size: 512 is out of range"),
    ("[buffers]\nhugepages = \"yes\"", "buffers.hugepages: 'yes' is not a boolean"),
    ("[buffers]\nhugepages = 2", "buffers.hugepages: 2 is not a boolean"),
    ("[buffers]\nrx_batch = 65", "buffers.rx_batch: 65 is out of range 1..64"),
    ("[port]\nbackend = \"af_xdp\"\n[buffers]\ncount = 32", "buffers.count: af_xdp needs"),
    ("[arp]\ncache_size = 0", "arp.cache_size:"),
    ("[arp]\nretry_ms = 0", "arp.retry_ms:"),
    ("[arp]\nmax_retries = 0", "arp.max_retries:"),
    ("[arp]\nreachable_ms = -1", "arp.reachable_ms:"),
    ("[ip]\ndefault_ttl = 0", "ip.default_ttl: 0 is out of range 1..255"),
    ("[ip]\ndefault_ttl = 256", "ip.default_ttl:"),
    ("[ip]\nreass_max_size = 100", "ip.reass_max_size:"),
    ("[ip]\nreass_max_datagrams = 5000", "ip.reass_max_datagrams:"),
    ("[icmp]\nerr_rate_per_s = 1e3", "icmp.err_rate_per_s:"),
    ("[tcp]\ndelack_ms = 500", "tcp.delack_ms: 500 is out of range 1..499"),
    ("[tcp]\nrto_max_ms = 1000", "tcp.rto_max_ms:"),
    ("[tcp]\nrto_init_ms = 100", "tcp.rto_init_ms: needs tcp.rto_min_ms"),
    ("[tcp]\nmin_mss = 40", "tcp.min_mss:"),
    ("[tcp]\ncongestion = \"bbr\"", "tcp.congestion: 'bbr' is not one of newreno, cubic"),
    ("[tcp]\ncongestion = 1", "tcp.congestion: 1 is not a string"),
    ("[fault]\ndrop = 1.5", "fault.drop: 1.5 is out of a probability 0..1"),
    ("[fault]\nrx_dup = -0.1", "fault.rx_dup:"),
    ("[fault]\ndrop = \"often\"", "fault.drop: 'often' is not a number"),
    ("[fault]\ndelay = 0.5", "fault.delay: 0.5 needs fault.delay_ms > 0"),
    ("[fault]\ntx_delay = 1", "fault.tx_delay: 1.0 needs fault.tx_delay_ms > 0"),
    ("[fault]\nseed = -1", "fault.seed:"),
    ("[pcap]\npath = \"/nonexistent-dir/x.pcap\"", "pcap.path: directory"),
    ("[log]\nlevel = \"loud\"", "log.level: 'loud' is not one of debug, info, warning, "
                                "error"),
    ("[stats]\ninterval = 0", "stats.interval:"),
    ("[stats]\nfile = \"/\"", "stats.file:"),
    ("[port]\nifname = \"fn0\"", "port.ifname: unknown key"),
    ("[arp]\nretry = 1", "arp.retry: unknown key in"),
    ("[tcpp]\nsack = true", "tcpp: unknown section"),
    ("[stats.extra]\nx = 1", "stats.extra: unknown key"),
    ("[arp]\nretry_ms = [1, 2]", "arp.retry_ms: expected a single value"),
]


@pytest.mark.parametrize("body,expected", ERRORS, ids=[e[1].split(":")[0] for e in ERRORS])
def test_error_names_its_key(tmp_path, body, expected):
    # TOML forbids repeating a table, so the valid [port] keys are merged into the body.
    if body.startswith("[port]\n"):
        text = '[port]\niface = "fn0"\nip = "198.18.0.1/24"\n' + body[len("[port]\n"):]
        text = _dedupe_port(text)
    else:
        text = '[port]\niface = "fn0"\nip = "198.18.0.1/24"\n' + body
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load(p)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(expected), msg


def _dedupe_port(text):
    """Later port keys win: drop an earlier line setting the same key."""
    lines = text.splitlines()
    seen, out = set(), []
    for ln in reversed(lines):
        key = ln.split("=")[0].strip() if "=" in ln else None
        if key and key in seen:
            continue
        if key:
            seen.add(key)
        out.append(ln)
    return "\n".join(reversed(out)) + "\n"


def test_section_must_be_a_table(tmp_path):
    p = write(tmp_path, 'log = "debug"\n[port]\niface = "fn0"\nip = "198.18.0.1/24"\n')
    with pytest.raises(ConfigError, match=r"^log: must be a table"):
        load(p)


def test_required_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"^port\.iface: required"):
        load(None, {"port.ip": "198.18.0.1/24"})
    with pytest.raises(ConfigError, match=r"^port\.ip: required .*--ip"):
        load(None, {"port.iface": "fn0"})


def test_flag_values_checked_like_file_values():
    with pytest.raises(ConfigError, match=r"^port\.mtu: 'big' is not an integer$"):
        load(None, dict(BASE, **{"port.mtu": "big"}))
    with pytest.raises(ConfigError, match=r"^fault\.drop: 'x' is not a number$"):
        load(None, dict(BASE, **{"fault.drop": "x"}))
    with pytest.raises(ConfigError, match=r"^buffers\.hugepages: 'maybe' is not a boolean"):
        load(None, dict(BASE, **{"buffers.hugepages": "maybe"}))
    with pytest.raises(ConfigError, match=r"^nope\.x: unknown key$"):
        load(None, dict(BASE, **{"nope.x": "1"}))


def test_bad_toml_and_missing_file(tmp_path):
    p = write(tmp_path, "[port\n")
    with pytest.raises(ConfigError, match=r"TOML syntax error"):
        load(p)
    with pytest.raises(ConfigError, match=r"cannot read"):
        load(tmp_path / "missing.toml")


# --- the command line ------------------------------------------------------------------


def test_cli_bad_ip_exits_2_with_one_line():
    r = fastnet("up", "--iface", "x", "--backend", "af_packet", "--ip", "198.18.0.300/24")
    assert r.returncode == 2
    assert r.stderr == ("fastnet: config error: port.ip: '198.18.0.300/24' is not an IPv4 "
                        "address with prefix\n")
    assert r.stdout == ""


def test_cli_bad_file_value_exits_2(tmp_path):
    p = write(tmp_path, '[port]\niface = "fn0"\nip = "198.18.0.1/24"\n[arp]\nretry_ms = 0\n')
    r = fastnet("up", "--config", str(p))
    assert r.returncode == 2
    assert r.stderr.startswith("fastnet: config error: arp.retry_ms: 0 is out of range")
    assert r.stderr.count("\n") == 1


def test_cli_missing_required_exits_2():
    r = fastnet("up", "--backend", "af_packet")
    assert r.returncode == 2
    assert r.stderr.startswith("fastnet: config error: port.iface: required")


def test_cli_usage_error_exits_2():
    r = fastnet("up", "--iface", "fn0", "--ip", "198.18.0.1/24", "--backend", "dpdk")
    assert r.returncode == 2
    r = fastnet("up", "--iface", "fn0", "--ip", "198.18.0.1/24", "--bogus", "1")
    assert r.returncode == 2


def test_cli_missing_netns_exits_1():
    r = fastnet("up", "--iface", "fn0", "--ip", "198.18.0.1/24", "--netns",
                f"fnc-missing-{os.getpid()}")
    assert r.returncode == 1
    assert re.match(r"fastnet: network namespace 'fnc-missing-\d+' does not exist\n$", r.stderr)


def test_cli_version():
    r = fastnet("--version")
    assert r.returncode == 0 and r.stdout.strip() == "fastnet 0.1.0"


def test_cli_backend_open_failure_exits_1(tmp_path):
    require_core()
    r = fastnet("up", "--iface", "fncnosuch0", "--backend", "af_packet",
                "--ip", "198.18.0.1/24", "--stats-file", str(tmp_path / "s.json"))
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("fastnet: ") and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "s.json").exists()


def _stats_file(tmp_path, running=False, pid=None):
    data = {
        "fastnet": "0.1.0", "iface": "fn0", "backend": "af_packet",
        "mac": "02:00:00:00:00:01", "ip": "198.18.0.1/24", "mtu": 1500,
        "pid": pid or 0, "running": running, "started": time.time() - 10, "time": time.time(),
        "stats": {"eth_rx": 12, "eth_tx": 10, "drop_nobuf": 0, "backend.rx_packets": 12,
                  "pool.in_use": 0},
        "descriptions": {"eth_rx": "frames received", "eth_tx": "frames sent",
                         "drop_nobuf": "dropped: no packet buffer"},
    }
    p = tmp_path / "fn0.json"
    p.write_text(json.dumps(data))
    return p, data


def test_stat_prints_nonzero_counters_with_descriptions(tmp_path):
    p, _ = _stats_file(tmp_path)
    r = fastnet("stat", "--stats-file", str(p))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("fn0: backend=af_packet mac=02:00:00:00:00:01 "
                               "ip=198.18.0.1/24 mtu=1500 (stopped;")
    assert re.search(r"^\s+eth_rx\s+12\s+frames received$", r.stdout, re.M)
    assert re.search(r"^\s+eth_tx\s+10\s+frames sent$", r.stdout, re.M)
    assert re.search(r"^\s+backend.rx_packets\s+12\s+frames received by the backend$",
                     r.stdout, re.M)
    assert "drop_nobuf" not in r.stdout and "pool.in_use" not in r.stdout


def test_stat_all_and_json(tmp_path):
    p, data = _stats_file(tmp_path, running=True, pid=os.getpid())
    r = fastnet("stat", "--stats-file", str(p), "--all")
    assert r.returncode == 0
    assert "(running, pid" in r.stdout.splitlines()[0]
    assert re.search(r"^\s+drop_nobuf\s+0\s+dropped: no packet buffer$", r.stdout, re.M)
    r = fastnet("stat", "--stats-file", str(p), "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == data["stats"]


def test_stat_missing_file_exits_1(tmp_path):
    r = fastnet("stat", "--stats-file", str(tmp_path / "none.json"))
    assert r.returncode == 1 and r.stderr.startswith("fastnet: no stats file")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = fastnet("stat", "--stats-file", str(bad))
    assert r.returncode == 1 and "cannot read stats file" in r.stderr


def test_stat_iface_uses_run_dir(monkeypatch, tmp_path, capsys):
    p, _ = _stats_file(tmp_path)
    monkeypatch.setattr(config, "STATS_DIR", str(tmp_path))
    assert cli.main(["stat", "--iface", "fn0"]) == 0
    assert "eth_rx" in capsys.readouterr().out
    assert cli.main(["stat"]) == 0  # the only file in the directory
    assert cli.main(["stat", "--iface", "fn7"]) == 1


def test_write_json_atomic(tmp_path):
    target = tmp_path / "sub" / "s.json"
    cli._write_json_atomic(str(target), {"stats": {"a": 1}})
    cli._write_json_atomic(str(target), {"stats": {"a": 2}})
    assert json.loads(target.read_text()) == {"stats": {"a": 2}}
    assert [x.name for x in target.parent.iterdir()] == ["s.json"]
