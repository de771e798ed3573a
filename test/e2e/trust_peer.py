#!/usr/bin/env python3
"""Raw peers for e2e/trust_root.sh, speaking banger's framing (docs/protocol.md:
a 4-byte big-endian length, then a JSON envelope).

  trust_peer.py serve SOCKET RECORD [vmshow NAME]
      Listens on SOCKET (mode 0777) as whoever runs it, appends every byte it
      receives to RECORD; with `vmshow NAME` answers each request with a
      running VM called NAME (a planted daemon), else answers nothing.
  trust_peer.py call SOCKET TYPE
      Sends one request of TYPE and prints the first frame back (or
      "closed").
"""
import json
import os
import socket
import struct
import sys


def frame(obj):
    data = json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data


def read_frame(conn):
    buf = b""
    while len(buf) < 4:
        chunk = conn.recv(4 - len(buf))
        if not chunk:
            return None
        buf += chunk
    (n,) = struct.unpack(">I", buf)
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(path, record, reply_name=None):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o777)
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        with conn:
            while True:
                data = read_frame(conn)
                if data is None:
                    break
                with open(record, "ab") as f:
                    f.write(data + b"\n")
                if reply_name is None:
                    continue
                req = json.loads(data)
                conn.sendall(frame({"v": 1, "id": req["id"], "type": "result",
                                    "body": {"id": "f00d", "name": reply_name,
                                             "state": "running",
                                             "ip": "10.231.99.2"}}))


def call(path, type_):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(path)
    try:
        conn.sendall(frame({"v": 1, "id": 7, "type": type_, "body": {}}))
    except OSError:
        pass  # a refusing daemon may close first; its error frame is still there
    try:
        data = read_frame(conn)
    except OSError:
        data = None
    print(data.decode() if data is not None else "closed")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3],
              sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "vmshow" else None)
    else:
        call(sys.argv[2], sys.argv[3])
