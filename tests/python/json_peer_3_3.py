"""A Python Veltix 3.3.0 peer exchanging JSON payloads, for the interop tests.

    python tests/python/json_peer_3_3.py server [--host 127.0.0.1] [--port 0]
    python tests/python/json_peer_3_3.py client --port P [--host 127.0.0.1]

Both directions use Veltix's own helpers: `Request(T, json=...)` to send
(`json.dumps(value).encode("utf-8")`) and `Response.json` to read
(`json.loads(content.decode("utf-8"))`).

server: answers every message of type 220 with a message of type 221 carrying
the same request id and `json={"got": <the request's JSON>, "made": SAMPLE}`;
a request whose content is not JSON gets `json={"error": "not json"}`. Prints
`listening on HOST:PORT` first. Stops on SIGINT or SIGTERM.

client: sends `Request(220, json=SAMPLE)` with `send_and_wait` and expects a
reply of type 221 whose JSON is `{"got": SAMPLE, "made": SAMPLE}` (what the
Rust server does); prints `got ok` / `got differs <json>`, `made ok` /
`made differs <json>`, then `done`. Exits with 0 only if both matched.

SAMPLE is the same value as `sample()` in tests/src/interop/json.rs.
Logs (warnings and above) go to stderr.
"""

import argparse
import json
import os
import signal
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
    Server,
    ServerConfig,
)

JSON_REQUEST = 220
JSON_REPLY = 221
STEP = 10.0

SAMPLE = {
    "text": "café – 日本語 🦀",
    "escapes": 'say "hi"\n\t\\ / \u0001',
    "big_int": 9007199254740993,
    "negative": -42,
    "float": 2.5,
    "small": 1e-07,
    "list": [1, "two", None, True, False],
    "nested": {"empty_object": {}, "empty_list": [], "deep": [[{"k": "v"}]]},
}


def types() -> dict:
    return {code: MessageType(code, f"user_{code}") for code in (JSON_REQUEST, JSON_REPLY)}


def serve(args) -> int:
    kinds = types()
    server = Server(ServerConfig(host=args.host, port=args.port, max_workers=1))

    def on_recv(client, response) -> None:
        if response.type.code != JSON_REQUEST:
            return
        if response.is_json:
            reply = {"got": response.json, "made": SAMPLE}
        else:
            reply = {"error": "not json"}
        server.send(
            Request(kinds[JSON_REPLY], json=reply, request_id=response.request_id), client
        )

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


def run_client(args) -> int:
    kinds = types()
    client = Client(ClientConfig(server_addr=args.host, port=args.port, max_workers=1))
    if not client.connect():
        print("cannot connect", flush=True)
        return 1
    reply = client.send_and_wait(Request(kinds[JSON_REQUEST], json=SAMPLE), timeout=STEP)
    ok = True
    if reply is None or reply.type.code != JSON_REPLY or not reply.is_json:
        print(f"no JSON reply {reply!r}", flush=True)
        ok = False
    else:
        value = reply.json
        for key in ("got", "made"):
            if isinstance(value, dict) and value.get(key) == SAMPLE:
                print(f"{key} ok", flush=True)
            else:
                print(f"{key} differs {json.dumps(value)}", flush=True)
                ok = False
    client.disconnect()
    print("done", flush=True)
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["server", "client"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    Logger.get_instance(
        LoggerConfig(level=LogLevel.WARNING, stream=sys.stderr, use_colors=False)
    )
    return serve(args) if args.mode == "server" else run_client(args)


if __name__ == "__main__":
    sys.exit(main())
