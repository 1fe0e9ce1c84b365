"""fastnet: a userspace TCP/IP stack (C) for Python.

`fastnet.Stack`, `fastnet.Socket` and `fastnet.Epoll` are the C extension's handles
(fastnet._core); they are imported on first use so that the pure-Python parts
(configuration, CLI, test networks) work without a build of the extension.  The socket API
is described in docs/socket.md.  The asyncio loop (`fastnet.Loop`, `fastnet.new_event_loop`,
`fastnet.run`, docs/asyncio.md) is imported on first use too.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._core import Epoll, Socket, Stack
    from .loop import Loop, new_event_loop, run

__version__ = "0.1.0"

__all__ = ["Stack", "Socket", "Epoll", "Loop", "new_event_loop", "run", "__version__"]

_CORE_NAMES = frozenset(("Stack", "Socket", "Epoll"))
_LOOP_NAMES = frozenset(("Loop", "new_event_loop", "run"))


def __getattr__(name: str) -> Any:
    if name in _CORE_NAMES:
        from . import _core

        return getattr(_core, name)
    if name in _LOOP_NAMES:
        from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'fastnet' has no attribute {name!r}")
