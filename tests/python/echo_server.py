"""A Python Veltix 1.3.0 echo server, for interop tests and benchmarks.

Answers every application message (types 200-499) with a message of the same
type and content carrying the same request id. One extra type is a test hook:
a message of type 210 makes the server ping that client (Python's
`ping_client_async`) and answer with type 211 whose content is the latency in
ms as text, or `None` when the ping timed out.

    python tests/python/echo_server.py [--host 127.0.0.1] [--port 7000]

Prints `listening on HOST:PORT` (the real port, also with --port 0) once the
socket accepts connections. Logs go to stderr, warnings and above only.
Stops on SIGINT or SIGTERM.
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

PING_ME = 210
PING_RESULT = 211


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--max-connections", type=int, default=64)
    args = parser.parse_args()

    # The logger is a singleton: configure it before Veltix creates it.
    Logger.get_instance(
        LoggerConfig(level=LogLevel.WARNING, stream=sys.stderr, use_colors=False)
    )
    # Veltix drops frames whose type is not registered: register the user range.
    types = {code: MessageType(code, f"user_{code}") for code in range(200, 500)}

    server = Server(
        ServerConfig(host=args.host, port=args.port, max_connection=args.max_connections)
    )
    sender = server.get_sender()

    def on_recv(client, response) -> None:
        if response.type.code == PING_ME:

            def report(latency) -> None:
                answer = Request(types[PING_RESULT], str(latency).encode())
                sender.send(answer, client=client.conn)

            # Not `ping_client`: it would wait on this very reader thread.
            server.ping_client_async(client, report, timeout=5.0)
            return
        echo = Request(response.type, response.content, request_id=response.request_id)
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
    while not stop.wait(0.2):
        pass
    server.close_all()
    # Veltix 1.3.0's per-client threads are not daemons and may sit in recv().
    os._exit(0)


if __name__ == "__main__":
    main()
