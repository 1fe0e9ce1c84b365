"""fastnet: a userspace TCP/IP stack (C) for Python.

`fastnet.Stack` is the C extension's stack handle (fastnet._core.Stack); it is imported on
first use so that the pure-Python parts (configuration, CLI, test networks) work without a
build of the extension.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["Stack", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Stack":
        from ._core import Stack

        return Stack
    raise AttributeError(f"module 'fastnet' has no attribute {name!r}")
