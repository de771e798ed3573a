#!/usr/bin/env bash
# Malformed frames on the daemon's socket get an error frame (or, for an
# oversized length, at worst a closed connection), never a crash or a hang,
# and the daemon keeps serving.
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_enter_netns "$@"
e2e_setup

dpid=$(tr -dc 0-9 <"$(daemon_pid_file)")

# Prints one line per failed check ("FAIL: ..."); exits 0 either way unless
# the script itself breaks.
probe=$(python3 - "$(daemon_socket)" <<'PY' 2>&1
import json, socket, struct, sys

path = sys.argv[1]
TIMEOUT = 5.0

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(path)
    return s

def frame(payload):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack(">I", len(payload)) + payload

def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf

def read_frame(s):
    """The next frame as a dict; 'EOF' if the peer closed; raises on timeout."""
    head = read_exact(s, 4)
    if head is None:
        return "EOF"
    (n,) = struct.unpack(">I", head)
    if n > (64 << 20):
        raise ValueError("reply announces %d bytes" % n)
    body = read_exact(s, n)
    if body is None:
        return "EOF"
    return json.loads(body)

def check(cond, what):
    if not cond:
        print("FAIL: " + what)

def expect_error(s, what, req_id=None, code=None):
    try:
        r = read_frame(s)
    except socket.timeout:
        check(False, "%s: no reply within %ss (hang)" % (what, TIMEOUT))
        return None
    except Exception as e:
        check(False, "%s: bad reply: %r" % (what, e))
        return None
    if r == "EOF":
        check(False, "%s: connection closed without an error frame" % what)
        return None
    ok = isinstance(r, dict) and r.get("type") == "error" and isinstance(r.get("body"), dict)
    check(ok, "%s: expected an error frame, got %r" % (what, r))
    if not ok:
        return r
    body = r["body"]
    check(isinstance(body.get("code"), str) and body["code"], "%s: error body without code: %r" % (what, r))
    check(isinstance(body.get("message"), str) and body["message"], "%s: error body without message: %r" % (what, r))
    if code is not None:
        check(body.get("code") == code, "%s: expected code %r, got %r" % (what, code, r))
    if req_id is not None:
        check(r.get("id") == req_id, "%s: expected the request's id %r, got %r" % (what, req_id, r))
    return r

def expect_status_ok(s, req_id, what):
    s.sendall(frame({"v": 1, "id": req_id, "type": "daemon.status", "body": {}}))
    try:
        r = read_frame(s)
    except Exception as e:
        check(False, "%s: daemon.status got no reply: %r" % (what, e))
        return
    check(isinstance(r, dict) and r.get("type") == "result" and r.get("id") == req_id,
          "%s: daemon.status: expected a result with id %d, got %r" % (what, req_id, r))

# 1. Garbage in a well-formed frame; the connection stays usable.
s = connect()
s.sendall(frame("{this is not json"))
expect_error(s, "garbage JSON")
expect_status_ok(s, 2, "same connection after garbage JSON")

# 2. An unknown message type.
s.sendall(frame({"v": 1, "id": 3, "type": "no.such.type", "body": {}}))
expect_error(s, "unknown type", req_id=3, code="protocol")
expect_status_ok(s, 4, "same connection after an unknown type")

# 3. A wrong protocol version.
s.sendall(frame({"v": 99, "id": 5, "type": "daemon.status", "body": {}}))
r = expect_error(s, "version 99")
if r and isinstance(r.get("body"), dict):
    check("99" in r["body"].get("message", "") or "version" in r["body"].get("message", ""),
          "version 99: the error does not say what is wrong: %r" % r)

# 4. An unknown field in the envelope.
s.sendall(frame({"v": 1, "id": 6, "type": "daemon.status", "body": {}, "extra": 1}))
expect_error(s, "unknown envelope field")
s.close()

# 5. A length prefix of 4 GiB - 1: an error frame or a close, never a hang.
s = connect()
s.sendall(struct.pack(">I", 0xFFFFFFFF) + b"{")
try:
    r = read_frame(s)
    check(r == "EOF" or (isinstance(r, dict) and r.get("type") == "error"),
          "oversized frame: expected an error frame or a close, got %r" % (r,))
except socket.timeout:
    check(False, "oversized frame: neither an error nor a close within %ss (hang)" % TIMEOUT)
except Exception as e:
    check(False, "oversized frame: bad reply: %r" % e)
s.close()

# 6. A fresh connection still works.
s = connect()
expect_status_ok(s, 7, "new connection after the malformed frames")
s.close()
PY
) || fail "frame probe script failed: $probe"
while IFS= read -r line; do
  [[ $line == FAIL:* ]] && fail "${line#FAIL: }"
done <<<"$probe"

expect_proc_alive "$dpid" "bangerd after the malformed frames"
expect_rc 0 banger daemon status
expect_contains "$OUT" "$(daemon_socket)" "daemon status after the malformed frames"
expect_nothing_left
e2e_pass
