#!/usr/bin/env python3
"""Fake istio-cni node agent for tests of ztunnel's in-pod mode.

Stands in for istio-cni's node agent: it listens on a SOCK_SEQPACKET Unix
socket, ztunnel connects to it, and the agent sends ZDS WorkloadRequests
(package istio.workload.zds), getting one WorkloadResponse (Ack) back for each.
AddWorkload carries the pod's netns fd as SCM_RIGHTS ancillary data.
Like istio-cni's ztunnelServer it keeps every ztunnel connected at once (two
overlap while a ztunnel DaemonSet rolls): requests go to the newest, except
DelWorkload, which every connection gets (the newest's ack is reported).

A test drives it through stdin/stdout, one JSON object per line:
  {"op":"add","uid":U,"netns":PATH,"name":..,"namespace":..,"serviceAccount":..}
      optional "noFd":true, "noInfo":true, "extraFd":true  -> {"op":"add","uid":U,"ack":E}
  {"op":"keep","uid":U} / {"op":"del","uid":U} / {"op":"snapshot"}
  {"op":"raw","hex":H}                                       -> {"op":..,"ack":E}
  {"op":"wait"} -> {"op":"wait","connected":bool}
  {"op":"close"} -> {"op":"close"}          {"op":"quit"} -> exit 0
Failures print {"op":..,"error":"timeout"|"disconnected"|...} instead of "ack".
Events: {"event":"listening"|"hello"|"disconnected",...}; hello and
disconnected carry "conn", the connection's number (1 for the first accepted). Standard library only.
"""
import argparse, array, json, os, queue, socket, sys, threading

TIMEOUT = 30.0
_print_lock = threading.Lock()
_cond = threading.Condition()
_conns = []  # the connections whose hello has been read, oldest first


def emit(obj):
    with _print_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


# --- minimal protobuf encoding / decoding --------------------------------------
def varint(n):
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def field(num, payload):
    """Length-delimited field (wire type 2)."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def string(num, s):
    return field(num, s.encode()) if s else b""  # proto3: empty string omitted


def read_varint(buf, i):
    result = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated or overlong varint")
        result |= (buf[i] & 0x7F) << shift
        shift, i = shift + 7, i + 1
        if not buf[i - 1] & 0x80:
            return result, i


def decode(buf):
    """Parse a message into {field_number: last value}; unknown fields are kept, unused."""
    fields, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ValueError("field number 0")
        if wt == 0:
            fields[num], i = read_varint(buf, i)
            continue
        if wt == 2:
            size, i = read_varint(buf, i)
        elif wt in (1, 5):  # fixed64 / fixed32
            size = 8 if wt == 1 else 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        if i + size > len(buf):
            raise ValueError("truncated field")
        fields[num], i = buf[i:i + size], i + size
    return fields


def decode_ack(buf):
    """WorkloadResponse{ack=1: Ack{error=1}} -> error string."""
    resp = decode(buf)
    if not isinstance(resp.get(1), bytes):
        raise ValueError("response has no ack")
    err = decode(resp[1]).get(1, b"")
    if not isinstance(err, bytes):
        raise ValueError("ack.error has wrong wire type")
    return err.decode("utf-8", "replace")


# --- connection handling --------------------------------------------------------
class Conn:
    def __init__(self, sock, number):
        self.sock, self.number, self.packets, self.closed_locally = sock, number, queue.Queue(), False


def serve(server):
    """Accept every ztunnel connection, each read by a thread of its own (istio-cni's ztunnelServer keeps them all)."""
    number = 0
    while True:
        sock, _ = server.accept()
        number += 1
        threading.Thread(target=read_conn, args=(sock, number), daemon=True).start()


def read_conn(sock, number):
    """Read the hello, then queue every packet until EOF or the "close" command."""
    sock.settimeout(TIMEOUT)
    try:
        hello = sock.recv(65536) or "eof before hello"
    except OSError as e:  # includes the 30 s timeout
        hello = f"{type(e).__name__}: {e}"
    if isinstance(hello, str):  # no hello at all: drop it
        emit({"event": "hello", "conn": number, "error": hello})
        sock.close()
        return
    # the connection joins before its hello is reported: a test that sends a request on seeing the hello must reach
    # this connection, not the one before it
    sock.settimeout(None)
    conn = Conn(sock, number)
    with _cond:
        _conns.append(conn)
        _cond.notify_all()
    try:  # an undecodable hello is reported, but the connection is kept
        version = decode(hello).get(1, 0)
        if not isinstance(version, int):
            raise ValueError("version has wrong wire type")
        emit({"event": "hello", "conn": number, "version": version})
    except ValueError as e:
        emit({"event": "hello", "conn": number, "error": str(e)})
    while True:  # ends at EOF or when closed by the "close" command
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            break
        conn.packets.put(data)
    with _cond:
        if conn in _conns:
            _conns.remove(conn)
    conn.packets.put(None)
    sock.close()
    if not conn.closed_locally:
        emit({"event": "disconnected", "conn": number})


def wait_connected():
    """The newest connection (istio-cni sends every add, and each new connection's snapshot, there), or None."""
    with _cond:
        _cond.wait_for(lambda: _conns, TIMEOUT)
        return _conns[-1] if _conns else None


def request(conn, op, payload, fds=()):
    """Send one packet (with optional fds), wait for the Ack, return the result line."""
    while not conn.packets.empty():  # discard stale packets (e.g. a late ack)
        if conn.packets.get_nowait() is None:
            return {"op": op, "error": "disconnected"}
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    try:
        conn.sock.sendmsg([payload], anc)
    except OSError:
        return {"op": op, "error": "disconnected"}
    try:
        reply = conn.packets.get(timeout=TIMEOUT)
    except queue.Empty:
        return {"op": op, "error": "timeout"}
    if reply is None:
        return {"op": op, "error": "disconnected"}
    try:
        return {"op": op, "ack": decode_ack(reply)}
    except ValueError as e:
        return {"op": op, "error": f"bad response: {e}", "hex": reply.hex()}


def do_add(conn, cmd):
    uid = cmd.get("uid", "")
    add = string(1, uid)
    if not cmd.get("noInfo"):
        add += field(2, string(1, cmd.get("name", "")) + string(2, cmd.get("namespace", ""))
                     + string(3, cmd.get("serviceAccount", "")))
    fds = []
    try:
        if not cmd.get("noFd"):
            for _ in range(2 if cmd.get("extraFd") else 1):
                fds.append(os.open(cmd["netns"], os.O_RDONLY | os.O_CLOEXEC))
        result = request(conn, "add", field(1, add), fds)
    except (OSError, KeyError) as e:
        result = {"op": "add", "error": f"netns: {e}"}
    finally:
        for fd in fds:
            os.close(fd)
    return {"op": "add", "uid": uid, **{k: v for k, v in result.items() if k != "op"}}


def handle(cmd):
    op = cmd.get("op")
    if op == "wait":
        return {"op": "wait", "connected": wait_connected() is not None}
    if op == "quit":
        raise SystemExit(0)
    if op not in ("add", "keep", "del", "snapshot", "raw", "close"):
        return {"op": op, "error": "unknown op"}
    conn = wait_connected()
    if conn is None:
        return {"op": op, "error": "not connected"}
    if op == "close":
        with _cond:
            conn.closed_locally = True
            if conn in _conns:
                _conns.remove(conn)
        try:
            conn.sock.shutdown(socket.SHUT_RDWR)  # the reader thread then sees EOF
        except OSError:
            pass  # the peer was already gone
        return {"op": "close"}
    if op == "add":
        return do_add(conn, cmd)
    uid = cmd.get("uid", "")
    if op == "del":  # istio-cni sends a deletion to every connected ztunnel, not only the newest
        with _cond:
            older = [c for c in _conns if c is not conn]
        for c in older:
            request(c, op, field(2, string(2, uid)))
    payload = {"keep": lambda: field(5, string(1, uid)),  # WorkloadRequest.keep
               "del": lambda: field(2, string(2, uid)),  # .del (DelWorkload.uid is field 2)
               "snapshot": lambda: field(3, b""),  # .snapshot_sent
               "raw": lambda: bytes.fromhex(cmd.get("hex", ""))}[op]()
    return request(conn, op, payload)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True)
    path = parser.parse_args().socket
    if os.path.lexists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(path)
    server.listen(8)
    emit({"event": "listening", "socket": path})
    threading.Thread(target=serve, args=(server,), daemon=True).start()
    try:
        for line in sys.stdin:  # stdin EOF ends the agent like "quit"
            if not line.strip():
                continue
            cmd = None
            try:
                cmd = json.loads(line)
                emit(handle(cmd))
            except SystemExit:
                break
            except Exception as e:  # bad JSON or unexpected failure: report, keep going
                op = cmd.get("op") if isinstance(cmd, dict) else None
                emit({"op": op, "error": f"{type(e).__name__}: {e}"})
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
