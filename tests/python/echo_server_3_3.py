"""A Python Veltix 3.3.0 echo server, for the interop tests.

    python tests/python/echo_server_3_3.py [--host 127.0.0.1] [--port 0]
        [--max-connections N]

Answers every application message (types 200-499) with a message of the same
type and content carrying the same request id. A message of type 210 makes it
ping that client (`ping_client_async`) and answer with type 211 whose content
is the round trip in ms as text, or `None` when the ping timed out.

Callbacks run on one worker thread, so echoes leave in the order the messages
arrived. Prints `listening on HOST:PORT` (the real port, also with --port 0)
once connections are accepted. Logs (warnings and above) go to stderr.
Stops on SIGINT or SIGTERM.
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

PING_ME = 210
PING_RESULT = 211


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-connections", type=int, default=64)
    args = parser.parse_args()

    # The logger is a singleton writing to stdout by default: configure it first.
    Logger.get_instance(
        LoggerConfig(level=LogLevel.WARNING, stream=sys.stderr, use_colors=False)
    )
    # Veltix drops frames whose type is not registered: register the user range.
    types = {code: MessageType(code, f"user_{code}") for code in range(200, 500)}

    server = Server(
        ServerConfig(
            host=args.host,
            port=args.port,
            max_connection=args.max_connections,
            max_workers=1,
        )
    )

    def on_recv(client, response) -> None:
        if response.type.code == PING_ME:

            def report(latency) -> None:
                server.send(Request(types[PING_RESULT], str(latency).encode()), client)

            # Not `ping_client`: it would wait on the only callback thread.
            server.ping_client_async(client, report, timeout=5.0)
            return
        echo = Request(response.type, response.content, request_id=response.request_id)
        server.send(echo, client)

    server.on_recv(on_recv)
    server.start()
    host, port = server.socket._sock.getsockname()[:2]
    print(f"listening on {host}:{port}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass
    server.close_all()
    os._exit(0)


if __name__ == "__main__":
    main()
