"""The HTTP/1.1 echo server of issue 6: one asyncio Protocol (server.py) run on the stock loop,
uvloop or fastnet's loop, plus a native variant (native/); `python -m apps.http_echo --help`."""
