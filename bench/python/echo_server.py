"""Python Veltix 1.3.0 as a veltix-bench server: the `python` reference row.

Behaves like the bench's own servers: a message of type 200 (the bench's
echo) is answered with the same type, content and request id; type 201 (the
bench's one-way messages) is received and dropped; PING is answered by
Veltix itself. It speaks the classic wire with no handshake, so Veltix
clients reach it with `ClientConfig::legacy()` (`veltix-bench --legacy`).

    python bench/python/echo_server.py [--host 127.0.0.1] [--port 7000]
        [--max-connections 20000] [--until-stdin-closes]

Prints `listening on HOST:PORT` (the real port, also with --port 0) once the
socket accepts connections. Stops on SIGINT or SIGTERM, and, with
--until-stdin-closes (how veltix-bench runs it), when its stdin closes.
veltix-bench embeds this file; it needs no path at run time.
"""

import argparse
import os
import signal
import socket
import sys
import threading

# Veltix 1.3.0 annotates a field with `socket._RetAddress`, which CPython only
# has from 3.14 on; without this, `import veltix` fails on older interpreters.
if not hasattr(socket, "_RetAddress"):
    socket._RetAddress = tuple

from veltix import (  # noqa: E402
    Events,
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
    parser = argparse.ArgumentParser(description="Python Veltix 1.3.0 bench echo server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000)
    # Above idle-10k's 10 000 connections: at the limit, Veltix 1.3.0's
    # accept loop spins instead of accepting.
    parser.add_argument("--max-connections", type=int, default=20000)
    parser.add_argument("--until-stdin-closes", action="store_true")
    args = parser.parse_args()

    # The logger is a singleton: configure it before Veltix creates it.
    # CRITICAL only: 1.3.0 logs an ERROR at every disconnect ("Error closing
    # client ...: cannot join current thread", its reader thread joining
    # itself), which would drown the bench's output. A frame it failed to
    # parse still shows, as an echo the client reports missing.
    Logger.get_instance(
        LoggerConfig(level=LogLevel.CRITICAL, stream=sys.stderr, use_colors=False)
    )
    # Veltix drops frames whose type is not registered.
    echo_type = MessageType(ECHO, "bench_echo")
    MessageType(SINK, "bench_sink")

    server = Server(
        ServerConfig(host=args.host, port=args.port, max_connection=args.max_connections)
    )
    sender = server.get_sender()

    def on_recv(client, response) -> None:
        if response.type.code == ECHO:
            echo = Request(echo_type, response.content, request_id=response.request_id)
            sender.send(echo, client=client.conn)

    server.set_callback(Events.ON_RECV, on_recv)

    # `start` calls listen() on a thread of its own; listen here first so the
    # port accepts connections by the time it is printed.
    server.socket.listen()
    server.start()
    host, port = server.socket.getsockname()[:2]
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
    # Veltix 1.3.0's per-client threads are not daemons and may sit in
    # recv(), and close_all() would say goodbye to thousands of idle
    # clients one by one: leave at once.
    os._exit(0)


if __name__ == "__main__":
    main()
