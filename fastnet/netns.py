"""Network namespaces by name, the way iproute2 keeps them (/var/run/netns/NAME).

Contract: small helpers used by the CLI and fastnet.testnet.  enter() moves the calling
thread (in practice the whole single-threaded process, before the stack is created) into a
named namespace with setns(2); like `ip netns exec` it also gives the process a private
mount namespace with /sys remounted, so /sys/class/net shows the namespace's interfaces
(libxdp and ethtool look there).  The remount is best effort: if it fails the network
namespace switch still stands.  Everything else shells out to `ip`, which must be on PATH.
Failures raise OSError (enter) or subprocess.CalledProcessError (run with check=True).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import subprocess
from typing import Sequence

__all__ = ["NETNS_DIR", "exists", "path", "enter", "add", "delete", "list_names", "run",
           "exec_argv", "pids"]

NETNS_DIR = "/var/run/netns"

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_SLAVE = 1 << 19
MNT_DETACH = 2

log = logging.getLogger("fastnet.netns")

_libc = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def path(name: str) -> str:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"bad network namespace name {name!r}")
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def list_names() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def _setns(fd: int, nstype: int) -> None:
    setns = getattr(os, "setns", None)  # Python >= 3.12
    if setns is not None:
        setns(fd, nstype)
        return
    if _lib().setns(fd, nstype) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def _remount_sys() -> None:
    """What `ip netns exec` does: private mounts, a fresh sysfs for the new namespace."""
    lib = _lib()
    if lib.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if lib.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rslave /")
    if lib.umount2(b"/sys", MNT_DETACH) != 0 and ctypes.get_errno() != errno.EINVAL:
        raise OSError(ctypes.get_errno(), "umount /sys")
    if lib.mount(b"sysfs", b"/sys", b"sysfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "mount sysfs on /sys")


def enter(name: str, remount_sys: bool = True) -> None:
    """Move this process into the named network namespace (before opening any socket)."""
    p = path(name)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OSError(errno.ENOENT, f"network namespace {name!r} does not exist") from None
    try:
        _setns(fd, CLONE_NEWNET)
    except OSError as e:
        raise OSError(e.errno, f"cannot enter network namespace {name!r}: "
                               f"{os.strerror(e.errno or 0)}") from None
    finally:
        os.close(fd)
    if remount_sys:
        try:
            _remount_sys()
        except OSError as e:
            log.debug("netns %s: /sys not remounted (%s); continuing", name,
                      os.strerror(e.errno or 0))


def _ip(args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True,
                          timeout=30)


def add(name: str) -> None:
    path(name)
    _ip(["netns", "add", name])


def delete(name: str) -> bool:
    """Delete the namespace; False if it was not there.  Never raises for a missing one."""
    if not exists(name):
        return False
    r = _ip(["netns", "delete", name], check=False)
    if r.returncode != 0 and exists(name):
        log.warning("ip netns delete %s: %s", name, r.stderr.strip())
        return False
    return True


def pids(name: str) -> list[int]:
    if not exists(name):
        return []
    r = _ip(["netns", "pids", name], check=False)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def exec_argv(name: str, argv: Sequence[str]) -> list[str]:
    """argv that runs argv inside the namespace."""
    return ["ip", "netns", "exec", name, *argv]


def run(name: str, argv: Sequence[str], check: bool = True, timeout: float | None = 60,
        capture: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command inside the namespace (via `ip netns exec`)."""
    return subprocess.run(exec_argv(name, argv), check=check, capture_output=capture,
                          text=True, timeout=timeout)
