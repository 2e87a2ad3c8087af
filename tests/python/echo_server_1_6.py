"""A Python Veltix 1.6.1 echo server, for the interop tests.

    python tests/python/echo_server_1_6.py [--host 127.0.0.1] [--port 0]

Speaks the 1.4-1.6 handshake (HELLO from the server, HELLO_ACK back; the
1.6.1 package announces itself as `1.6.0`). Answers every application
message (types 200-499) with a message of the same type and content carrying
the same request id. A message of type 210 makes it ping that client
(`ping_client_async`) and answer with type 211 whose content is the latency
in ms as text, or `None` when the ping timed out.

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
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    # The logger is a singleton writing to stdout by default: configure it first.
    Logger.get_instance(
        LoggerConfig(level=LogLevel.WARNING, stream=sys.stderr, use_colors=False)
    )
    # Veltix drops frames whose type is not registered: register the user range.
    types = {code: MessageType(code, f"user_{code}") for code in range(200, 500)}

    server = Server(ServerConfig(host=args.host, port=args.port, max_workers=1))
    sender = server.get_sender()

    def on_recv(client, response) -> None:
        if response.type.code == PING_ME:

            def report(latency) -> None:
                answer = Request(types[PING_RESULT], str(latency).encode())
                sender.send(answer, client=client.conn)

            # Not `ping_client`: it would wait on the only callback thread.
            server.ping_client_async(client, report, timeout=5.0)
            return
        echo = Request(response.type, response.content, request_id=response.request_id)
        sender.send(echo, client=client.conn)

    server.set_callback(Events.ON_RECV, on_recv)

    # `start` calls listen() on a thread of its own; listen here first so the
    # port accepts connections by the time it is printed.
    server.socket.listen()
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
