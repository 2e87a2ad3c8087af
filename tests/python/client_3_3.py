"""A Python Veltix 3.3.0 client that exercises a Veltix echo server.

    python tests/python/client_3_3.py --port P [--host 127.0.0.1]
        [--requests 60] [--big 1048576] [--burst 500] [--broadcast]
        [--hold | --expect-full]

In order, printing one line per step:
1. `ping <ms>`: `ping_server` (`None` on timeout);
2. `requests ok <n>` / `requests failed <n>`: `--requests` requests of type
   200 with `send_and_wait` (payload of request i: see `payload`), each reply
   checked for type, content and request id;
3. `big ok <bytes>` / `big failed`: one request of `--big` bytes;
4. `burst ok <n>` / `burst failed ...`: `--burst` plain messages of type 201
   (payload: the index as 4 big-endian bytes, then 28 `x`), sent back to back;
   the server's echoes must all arrive, in order;
5. `pinged <ms>`: a message of type 210 asks the server to ping this client;
   the server answers with type 211 carrying its result (`None` if it failed);
6. with --broadcast, `broadcast <text>`: a message of type 212 asks the
   server to broadcast a message of type 213, whose text is printed;
7. `ping <ms>` again, then disconnects and prints `done`.
Exits with 0 only if every step succeeded.

With --hold it only connects, prints `connected`, and waits for the server
to close the connection: prints `disconnected` (or `still connected` after
20 s) and exits with 0 only if it was closed.

With --expect-full it only connects, expecting the server to refuse it as
full: prints `server_full <reason>` and exits with 0 if `connect` raises
`ServerFullError`, else prints `connected` or `refused otherwise` and exits 1.
Logs (warnings and above) go to stderr.
"""

import argparse
import sys
import threading

from veltix import (
    Client,
    ClientConfig,
    Logger,
    LoggerConfig,
    LogLevel,
    MessageType,
    Request,
    ServerFullError,
)

# Payload sizes cycled through by the requests; the Rust test uses the same.
SIZES = [0, 1, 64, 1000, 5000, 70000]
STEP = 10.0


def payload(i: int) -> bytes:
    size = SIZES[i % len(SIZES)]
    return bytes((i * 7 + j) % 256 for j in range(size))


def numbered(i: int) -> bytes:
    return i.to_bytes(4, "big") + b"x" * 28


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--big", type=int, default=1 << 20)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--broadcast", action="store_true")
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--expect-full", action="store_true")
    args = parser.parse_args()

    Logger.get_instance(
        LoggerConfig(level=LogLevel.WARNING, stream=sys.stderr, use_colors=False)
    )
    types = {code: MessageType(code, f"user_{code}") for code in range(200, 500)}

    burst: list[bytes] = []
    burst_done = threading.Event()
    pinged: list[bytes] = []
    pinged_done = threading.Event()
    broadcast: list[bytes] = []
    broadcast_done = threading.Event()

    def on_recv(response) -> None:
        code = response.type.code
        if code == 201:
            burst.append(response.content)
            if len(burst) >= args.burst:
                burst_done.set()
        elif code == 211:
            pinged.append(response.content)
            pinged_done.set()
        elif code == 213:
            broadcast.append(response.content)
            broadcast_done.set()
        else:
            print(f"unexpected message of type {code}", file=sys.stderr)

    # One callback thread: messages reach on_recv in the order they arrived.
    client = Client(ClientConfig(server_addr=args.host, port=args.port, max_workers=1))
    client.on_recv(on_recv)
    closed = threading.Event()
    client.on_disconnect(lambda state: closed.set())

    if args.expect_full:
        try:
            connected = client.connect()
        except ServerFullError as refusal:
            print(f"server_full {refusal}", flush=True)
            return 0
        print("connected" if connected else "refused otherwise", flush=True)
        if connected:
            client.disconnect()
        return 1

    if not client.connect():
        print("cannot connect", flush=True)
        return 1

    if args.hold:
        print("connected", flush=True)
        if closed.wait(2 * STEP):
            print("disconnected", flush=True)
            return 0
        print("still connected", flush=True)
        return 1
    ok = True

    latency = client.ping_server(timeout=STEP)
    print(f"ping {latency}", flush=True)
    ok &= latency is not None

    good = 0
    for i in range(args.requests):
        sent = payload(i)
        request = Request(types[200], sent)
        reply = client.send_and_wait(request, timeout=STEP)
        if reply is None:
            print(f"request {i}: no reply", file=sys.stderr)
        elif reply.type.code != 200 or reply.content != sent:
            print(f"request {i}: reply differs", file=sys.stderr)
        elif reply.request_id != request.request_id:
            print(f"request {i}: reply has another request id", file=sys.stderr)
        else:
            good += 1
    print(f"requests ok {good}", flush=True)
    print(f"requests failed {args.requests - good}", flush=True)
    ok &= good == args.requests

    big = bytes((j * 31 + 7) % 251 for j in range(args.big))
    reply = client.send_and_wait(Request(types[200], big), timeout=3 * STEP)
    if reply is not None and reply.content == big:
        print(f"big ok {len(reply.content)}", flush=True)
    else:
        print("big failed", flush=True)
        ok = False

    for i in range(args.burst):
        if not client.send(Request(types[201], numbered(i))):
            print(f"burst: send {i} failed", file=sys.stderr)
    if not burst_done.wait(3 * STEP):
        print(f"burst failed: {len(burst)} of {args.burst} echoes", flush=True)
        ok = False
    elif burst != [numbered(i) for i in range(args.burst)]:
        first = next(i for i, p in enumerate(burst) if p != numbered(i))
        print(f"burst failed: out of order from echo {first}", flush=True)
        ok = False
    else:
        print(f"burst ok {len(burst)}", flush=True)

    client.send(Request(types[210], b""))
    if pinged_done.wait(STEP):
        print(f"pinged {pinged[0].decode(errors='replace')}", flush=True)
    else:
        print("pinged none", flush=True)
        ok = False

    if args.broadcast:
        client.send(Request(types[212], b""))
        if broadcast_done.wait(STEP):
            print(f"broadcast {broadcast[0].decode(errors='replace')}", flush=True)
        else:
            print("broadcast none", flush=True)
            ok = False

    latency = client.ping_server(timeout=STEP)
    print(f"ping {latency}", flush=True)
    ok &= latency is not None

    client.disconnect()
    print("done", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
