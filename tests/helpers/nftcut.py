"""nft_cut(netns, port): a link gone dark for one TCP port, made with nftables.

Contract: adds table inet lpcut to the named network namespace, dropping every TCP segment
to or from `port` at the input and the output hooks, and returns a function that deletes
the table again (raises if nft fails either way).  One cut per namespace at a time.  Not at
the netdev egress hook: a frame lost there is, for the sending kernel, local congestion (an
unanswered keepalive probe is not counted and the connection never times out), while a
drop at the output hook counts as a probe lost on the way, as on a real dead path.
"""

from __future__ import annotations

import subprocess
from typing import Callable

NFT_TABLE = "lpcut"


def _nft(netns: str, *args: str, script: str | None = None) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "nft", *args], input=script, text=True,
                   capture_output=True, timeout=30, check=True)


def nft_cut(netns: str, port: int) -> Callable[[], None]:
    both = f"tcp sport {port} drop\n        tcp dport {port} drop"
    _nft(netns, "-f", "-", script=f"""
table inet {NFT_TABLE} {{
    chain input {{
        type filter hook input priority 0;
        {both}
    }}
    chain output {{
        type filter hook output priority 0;
        {both}
    }}
}}
""")
    return lambda: _nft(netns, "delete", "table", "inet", NFT_TABLE)
