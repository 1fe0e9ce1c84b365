"""in_netns(name): run a block of code inside a named network namespace, then come back.

Contract: the calling thread enters /var/run/netns/NAME with setns(2) and returns to the
namespace it was in when the block ends, also when the block raises.  Sockets, packet
sockets and fastnet stacks created inside keep the namespace they were created in, so a test
process can hold kernel sockets of a peer namespace and a stack of a stack namespace at once
and poll them all from one event loop.  Only the network namespace changes (no /sys
remount, unlike fastnet.netns.enter): af_packet and TAP backends and plain sockets do not
need it; af_xdp (libxdp reads /sys/class/net) does.  Needs CAP_SYS_ADMIN.  A namespace that
does not exist raises OSError(ENOENT) before anything changes; if the way back fails the
thread would be stranded in the other namespace, so that raises too (never silently).
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Iterator

from fastnet.netns import CLONE_NEWNET, _setns, path


@contextlib.contextmanager
def in_netns(name: str) -> Iterator[None]:
    try:
        target = os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OSError(errno.ENOENT, f"network namespace {name!r} does not exist") from None
    try:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except BaseException:
        os.close(target)
        raise
    try:
        _setns(target, CLONE_NEWNET)
        try:
            yield
        finally:
            _setns(home, CLONE_NEWNET)
    finally:
        os.close(target)
        os.close(home)
