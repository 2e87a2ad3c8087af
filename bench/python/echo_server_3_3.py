"""Python Veltix 3.3.0 as a veltix-bench server: the `python3` reference row.

Behaves like the bench's own servers: a message of type 200 (the bench's
echo) is answered with the same type, content and request id; type 201 (the
bench's one-way messages) is received and dropped; PING is answered by
Veltix itself. It speaks the compact wire after the JSON handshake (the
server speaks first), so Veltix clients reach it with
`ClientConfig::dialect(Dialect::Python3)` (`veltix-bench --dialect python3`
does that for the python3 row). The logic is the interop tests'
`tests/python/echo_server_3_3.py`, with the bench's two types.

    python bench/python/echo_server_3_3.py [--host 127.0.0.1] [--port 0]
        [--max-connections 20000] [--until-stdin-closes]

Callbacks run on one worker thread, so echoes leave in the order the
messages arrived. Prints `listening on HOST:PORT` (the real port, also with
--port 0) once connections are accepted. Stops on SIGINT or SIGTERM, and,
with --until-stdin-closes (how veltix-bench runs it), when its stdin closes.
veltix-bench embeds this file; it needs no path at run time.
"""

import argparse
import os
import signal
import sys
import threading

from veltix import (
    Logger,
    LoggerConfig,
    LogLevel,
    MessageType,
    Request,
    Server,
    ServerConfig,
)

ECHO = 200
SINK = 201


def main() -> None:
    parser = argparse.ArgumentParser(description="Python Veltix 3.3.0 bench echo server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    # Above idle-10k's 10 000 connections.
    parser.add_argument("--max-connections", type=int, default=20000)
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args()

    # The logger is a singleton writing to stdout by default: configure it
    # first (stdout carries the `listening on` line). Errors only: a
    # disconnect is not news in a benchmark.
    Logger.get_instance(
        LoggerConfig(level=LogLevel.ERROR, stream=sys.stderr, use_colors=False)
    )
    # Veltix drops frames whose type is not registered.
    echo_type = MessageType(ECHO, "bench_echo")
    MessageType(SINK, "bench_sink")

    server = Server(
        ServerConfig(
            host=args.host,
            port=args.port,
            max_connection=args.max_connections,
            max_workers=1,
        )
    )

    def on_recv(client, response) -> None:
        if response.type.code == ECHO:
            echo = Request(echo_type, response.content, request_id=response.request_id)
            server.send(echo, client)

    server.on_recv(on_recv)
    server.start()
    host, port = server.socket._sock.getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.until_stdin_closes:

        def wait_for_eof() -> None:
            while sys.stdin.buffer.read(4096):
                pass
            stop.set()

        threading.Thread(target=wait_for_eof, daemon=True).start()
    while not stop.wait(0.2):
        pass
    # Leave at once: saying goodbye to thousands of idle clients one by one
    # (close_all) is not what the bench measures.
    os._exit(0)


if __name__ == "__main__":
    main()
