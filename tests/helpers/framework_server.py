"""A third-party asyncio HTTP framework's server, unmodified, on a chosen event loop
(tests/test_frameworks.py).

    framework_server.py --framework aiohttp|uvicorn|streams --loop fastnet|uvloop|asyncio
                        --host H --port P [--iface IF --backend B --ip A.B.C.D/LEN]

The framework creates its own listener (aiohttp: web.TCPSite -> loop.create_server(host,
port); uvicorn: Server.serve() -> loop.create_server(host=, port=) in a loop this script
made, Config(loop="none"); streams: asyncio.start_server, HTTP/1.1 by h11), so with --loop
fastnet the listener is the userspace stack's when H is the stack's address.  Routes, the
same on every framework:
  GET  /json     {"framework": ..., "path": ..., "query": ...}
  POST /echo     the request body back, with X-Sha256 of what the server received
  GET  /stream   chunked: STREAM_CHUNKS chunks "chunk <i>\\n", a short sleep between them
  GET  /ws       WebSocket echo of text and binary messages (uvicorn: its wsproto
                 implementation; streams: wsproto directly)
Prints "framework_server: listening on H:P (framework=F loop=L)" on stderr once serving.
On SIGTERM it stops serving and prints one JSON line on stdout: {"loop": the loop's class,
"stats": the first stack's counters (fastnet only, else null)}; exit status 0.
"""
import argparse
import asyncio
import hashlib
import json
import signal
import sys

STREAM_CHUNKS = 8
FRAMEWORKS = ("aiohttp", "uvicorn", "streams")


def _json_doc(framework, path, query):
    return {"framework": framework, "path": path, "query": query}


def aiohttp_main(args, loop_name):
    from aiohttp import web, WSMsgType

    async def get_json(request):
        return web.json_response(_json_doc("aiohttp", request.path, dict(request.query)))

    async def echo(request):
        body = await request.read()
        return web.Response(body=body, content_type="application/octet-stream",
                            headers={"X-Sha256": hashlib.sha256(body).hexdigest()})

    async def stream(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(STREAM_CHUNKS):
            await resp.write(f"chunk {i}\n".encode())
            await asyncio.sleep(0.01)
        await resp.write_eof()
        return resp

    async def ws(request):
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT:
                await sock.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await sock.send_bytes(msg.data)
        return sock

    async def main():
        app = web.Application(client_max_size=4 << 20)
        app.add_routes([web.get("/json", get_json), web.post("/echo", echo),
                        web.get("/stream", stream), web.get("/ws", ws)])
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        _ready(args, loop_name)
        await stop.wait()
        await runner.cleanup()
        return _summary()

    return main()


def uvicorn_main(args, loop_name):
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] == "websocket":
            await ws_echo(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/json":
            query = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&")
                         if "=" in p)
            body = json.dumps(_json_doc("uvicorn", path, query)).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
        elif path == "/echo":
            chunks = []
            while True:
                msg = await receive()
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body"):
                    break
            body = b"".join(chunks)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/octet-stream"),
                                    (b"x-sha256", hashlib.sha256(body).hexdigest().encode())]})
            await send({"type": "http.response.body", "body": body})
        elif path == "/stream":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/plain")]})
            for i in range(STREAM_CHUNKS):
                await send({"type": "http.response.body", "body": f"chunk {i}\n".encode(),
                            "more_body": True})
                await asyncio.sleep(0.01)
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"not found"})

    async def ws_echo(receive, send):
        while True:
            msg = await receive()
            if msg["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif msg["type"] == "websocket.receive":
                if msg.get("text") is not None:
                    await send({"type": "websocket.send", "text": msg["text"]})
                else:
                    await send({"type": "websocket.send", "bytes": msg["bytes"]})
            else:
                return

    async def main():
        config = uvicorn.Config(app, host=args.host, port=args.port, loop="none",
                                lifespan="off", ws="wsproto", log_level="warning",
                                access_log=False)
        server = uvicorn.Server(config)
        # uvicorn's own SIGTERM handling (capture_signals) ends serve(), then restores the
        # previous handler and raises the signal again: this no-op handler lets the
        # summary be printed.  Readiness is its `started` flag, set once its create_server
        # has returned.
        signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
        task = asyncio.ensure_future(server.serve())
        while not server.started:
            if task.done():
                await task
                raise SystemExit("uvicorn exited before serving")
            await asyncio.sleep(0.02)
        _ready(args, loop_name)
        await task
        return _summary()

    return main()


def streams_main(args, loop_name):
    """asyncio.start_server with StreamReader/StreamWriter, HTTP/1.1 by h11 and WebSocket by
    wsproto: no framework, the stream API's own use of the transports."""
    import h11
    import wsproto
    from wsproto import events as ws_events

    async def respond(conn, writer, status, headers, body):
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)))
        writer.write(conn.send(h11.Data(data=body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()

    async def http(reader, writer, head):
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 16)
        conn.receive_data(head)
        request, body = None, []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(1 << 16))
            elif isinstance(event, h11.Request):
                request, body = event, []
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                await serve_one(conn, writer, request, b"".join(body))
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return
                conn.start_next_cycle()
            else:  # ConnectionClosed, PAUSED after a close
                return

    async def serve_one(conn, writer, request, body):
        target = request.target.decode()
        path, _, qs = target.partition("?")
        if path == "/json":
            query = dict(p.split("=", 1) for p in qs.split("&") if "=" in p)
            data = json.dumps(_json_doc("streams", path, query)).encode()
            await respond(conn, writer, 200, [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(data)))], data)
        elif path == "/echo":
            await respond(conn, writer, 200, [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(len(body))),
                ("X-Sha256", hashlib.sha256(body).hexdigest())], body)
        elif path == "/stream":
            # No Content-Length on an HTTP/1.1 response: h11 frames it chunked.
            writer.write(conn.send(h11.Response(status_code=200,
                                                headers=[("Content-Type", "text/plain")])))
            for i in range(STREAM_CHUNKS):
                writer.write(conn.send(h11.Data(data=f"chunk {i}\n".encode())))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
        else:
            await respond(conn, writer, 404, [("Content-Length", "9")], b"not found")

    async def websocket(reader, writer, head):
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        ws.receive_data(head)
        parts = []
        while True:
            for event in ws.events():
                if isinstance(event, ws_events.Request):
                    writer.write(ws.send(ws_events.AcceptConnection()))
                elif isinstance(event, ws_events.Message):
                    parts.append(event.data)
                    if event.message_finished:
                        whole = ("" if isinstance(event, ws_events.TextMessage)
                                 else b"").join(parts)
                        parts = []
                        writer.write(ws.send(ws_events.Message(data=whole)))
                elif isinstance(event, ws_events.Ping):
                    writer.write(ws.send(event.response()))
                elif isinstance(event, ws_events.CloseConnection):
                    writer.write(ws.send(event.response()))
                    await writer.drain()
                    return
            await writer.drain()
            data = await reader.read(1 << 16)
            ws.receive_data(data or None)
            if not data:
                return

    async def handle(reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"upgrade: websocket" in head.lower():
                await websocket(reader, writer, head)
            else:
                await http(reader, writer, head)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, args.host, args.port, limit=1 << 16)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        _ready(args, loop_name)
        await stop.wait()
        server.close()
        await server.wait_closed()
        return _summary()

    return main()


def _ready(args, loop_name):
    print(f"framework_server: listening on {args.host}:{args.port} "
          f"(framework={args.framework} loop={loop_name})", file=sys.stderr, flush=True)


def _summary():
    loop = asyncio.get_running_loop()
    stacks = getattr(loop, "stacks", None)
    cls = type(loop)
    return {"loop": f"{cls.__module__}.{cls.__qualname__}",
            "stats": stacks[0].stats() if stacks else None}


def loop_factory(args):
    if args.loop == "fastnet":
        import fastnet
        return lambda: fastnet.new_event_loop(iface=args.iface, backend=args.backend,
                                              ip=args.ip)
    if args.loop == "uvloop":
        import uvloop
        return uvloop.new_event_loop
    return asyncio.new_event_loop


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--framework", choices=FRAMEWORKS, required=True)
    p.add_argument("--loop", choices=("fastnet", "uvloop", "asyncio"), required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--iface")
    p.add_argument("--backend", default="af_packet")
    p.add_argument("--ip")
    args = p.parse_args(argv)
    if args.loop == "fastnet" and not (args.iface and args.ip):
        p.error("--loop fastnet needs --iface and --ip")
    coro_fn = {"aiohttp": aiohttp_main, "uvicorn": uvicorn_main,
               "streams": streams_main}[args.framework]
    with asyncio.Runner(loop_factory=loop_factory(args)) as runner:
        summary = runner.run(coro_fn(args, args.loop))
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
