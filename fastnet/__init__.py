"""fastnet: a userspace TCP/IP stack (C) for Python.

`fastnet.Stack`, `fastnet.Socket` and `fastnet.Epoll` are the C extension's handles
(fastnet._core); they are imported on first use so that the pure-Python parts
(configuration, CLI, test networks) work without a build of the extension.  The socket API
is described in docs/socket.md.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import Epoll, Socket, Stack

__version__ = "0.1.0"

__all__ = ["Stack", "Socket", "Epoll", "__version__"]

_CORE_NAMES = frozenset(("Stack", "Socket", "Epoll"))


def __getattr__(name: str) -> Any:
    if name in _CORE_NAMES:
        from . import _core

        return getattr(_core, name)
    raise AttributeError(f"module 'fastnet' has no attribute {name!r}")
