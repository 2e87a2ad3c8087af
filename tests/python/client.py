"""A Python Veltix 1.3.0 client that exercises a Veltix echo server.

    python tests/python/client.py --port P [--host 127.0.0.1] [--count 200]

In order:
1. pings the server (`ping_server`) and prints `ping <latency ms>`;
2. sends `--count` requests of type 200 with `send_and_wait` (payload of
   request i: see `payload`) and checks that each reply has type 200, the
   same content and the same request id; prints `requests ok <n>` and
   `requests failed <n>`;
3. sends one plain message of type 201 (`done <count>`), to which the
   interop test's server answers with a message of type 202 of its own
   (not a reply), and prints `push <content>` when it arrives;
4. pings again, disconnects, prints `done`.
Exits with 0 only if every step succeeded. Logs go to stderr.
"""

import argparse
import socket
import sys
import threading

# Veltix 1.3.0 annotates a field with `socket._RetAddress`, which CPython only
# has from 3.14 on; without this, `import veltix` fails on older interpreters.
if not hasattr(socket, "_RetAddress"):
    socket._RetAddress = tuple

from veltix import (  # noqa: E402
    Client,
    ClientConfig,
    Events,
    Logger,
    LoggerConfig,
    LogLevel,
    MessageType,
    Request,
)

# Payload sizes cycled through by the requests; the Rust test uses the same.
SIZES = [0, 1, 64, 1000, 5000, 70000]


def payload(i: int) -> bytes:
    """Request i's payload; interop test `python_client_to_our_server` mirrors it."""
    size = SIZES[i % len(SIZES)]
    return bytes((i * 7 + j) % 256 for j in range(size))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()

    Logger.get_instance(
        LoggerConfig(level=LogLevel.WARNING, stream=sys.stderr, use_colors=False)
    )
    # Veltix drops frames whose type is not registered.
    types = {code: MessageType(code, f"user_{code}") for code in range(200, 500)}

    pushed: list[bytes] = []
    push_arrived = threading.Event()

    def on_recv(response) -> None:
        if response.type.code == 202:
            pushed.append(response.content)
            push_arrived.set()
        else:
            print(f"unexpected message of type {response.type.code}", file=sys.stderr)

    client = Client(ClientConfig(server_addr=args.host, port=args.port))
    client.set_callback(Events.ON_RECV, on_recv)
    if not client.connect():
        print("cannot connect", flush=True)
        return 1
    ok = True

    latency = client.ping_server(timeout=5.0)
    print(f"ping {latency}", flush=True)
    ok &= latency is not None

    good = 0
    for i in range(args.count):
        sent = payload(i)
        request = Request(types[200], sent)
        reply = client.send_and_wait(request, timeout=5.0)
        if reply is None:
            print(f"request {i}: no reply", file=sys.stderr)
        elif reply.type.code != 200 or reply.content != sent:
            print(f"request {i}: reply differs", file=sys.stderr)
        elif reply.request_id != request.request_id:
            print(f"request {i}: reply has another request id", file=sys.stderr)
        else:
            good += 1
    print(f"requests ok {good}", flush=True)
    print(f"requests failed {args.count - good}", flush=True)
    ok &= good == args.count

    client.get_sender().send(Request(types[201], f"done {args.count}".encode()))
    if push_arrived.wait(5.0):
        print(f"push {pushed[0].decode(errors='replace')}", flush=True)
    else:
        print("push none", flush=True)
        ok = False

    latency = client.ping_server(timeout=5.0)
    print(f"ping {latency}", flush=True)
    ok &= latency is not None

    client.disconnect()
    print("done", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
