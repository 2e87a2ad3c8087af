"""Writes python_vectors.json: compact frames and handshake messages as the
real Python Veltix packages produce them, for golden tests that do not trust
this crate's own encoder.

    pip download veltix==3.3.0 --no-deps -d /tmp/pyvx3   # unzip to /tmp/pyvx3/src
    pip download veltix==1.6.1 --no-deps -d /tmp/pyvx16  # unzip to /tmp/pyvx16/src
    python3 gen_python_vectors.py /tmp/pyvx3/src /tmp/pyvx16/src > python_vectors.json

Every compact frame is compiled by both of 3.3.0's engines (its Rust
extension and its pure-Python fallback), which must agree.
"""

import json
import subprocess
import sys

V3, V16 = sys.argv[1], sys.argv[2]

FRAMES = [
    # (type code, payload hex, request id)
    (200, b"hello".hex(), 0x1234),
    (0, "", 0),
    (201, "Veltix 🦀".encode().hex(), 0xFFFF),
    (1, "", 0x8000),
    (300, bytes(range(256)).hex() + "00" * 44, 0x7FFF),
    (65535, b"VX".hex() * 10, 1),
    (499, "7b7d", 32768 + 29999),
]

COMPILE = """
import json, sys
from veltix.network.types import MessageType, MessageTypeRegistry
from veltix.network.request import Request
from veltix.network import _rust
frames = json.loads(sys.argv[1])
out = []
for code, payload, rid in frames:
    ty = MessageTypeRegistry.get(code) or MessageType(code, f"t{code}", _system=code < 200)
    req = Request(ty, bytes.fromhex(payload), request_id=rid)
    py = req.compile(use_rust=False).hex()
    rs = req.compile(use_rust=True).hex()
    assert py == rs, (code, py, rs)
    out.append({"type_code": code, "payload_hex": payload, "request_id": rid, "frame_hex": py})
print(json.dumps(out))
"""

HANDSHAKE3 = """
import json
from veltix.handler.handshake_handler import HandshakeHandler
from veltix.internal.compatibility import protocol_version_str
from veltix import __version__
enc = HandshakeHandler._encode
print(json.dumps({
    "package_version": __version__,
    "greeting_hex": enc({"v": __version__, "pv": protocol_version_str(), "meta": {}}).hex(),
    "result_ok_hex": enc({"result": "ok"}).hex(),
    "server_full_hex": enc({"error": "server_full"}).hex(),
}))
"""

HANDSHAKE16 = """
import json, socket
if not hasattr(socket, "_RetAddress"): socket._RetAddress = tuple
from veltix.handler.handshake_handler import HandshakeHandler
from veltix import __version__
print(json.dumps({
    "package_version": __version__,
    "hello_payload_hex": HandshakeHandler._encode_hello().hex(),
}))
"""


def run(path, code, *args):
    env = {"PYTHONPATH": path, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


print(json.dumps({
    "source": "computed by the Python Veltix 3.3.0 and 1.6.1 packages (gen_python_vectors.py)",
    "compact_frames": run(V3, COMPILE, json.dumps(FRAMES)),
    "python3_handshake": run(V3, HANDSHAKE3),
    "python14_handshake": run(V16, HANDSHAKE16),
}, indent=1))
