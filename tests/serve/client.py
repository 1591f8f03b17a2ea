#!/usr/bin/env python3
"""Test clients for l32-serve, from Python's standard library only.

  client.py chat URL FILE          POST FILE's JSON to URL/chat/completions
                                    (urllib, as a program would), print the body
  client.py stream URL FILE        the same streamed: print each data: payload
  client.py many URL N FILE OUT    N streaming requests at once (FILE's JSON with
                                    seed 1..N), each answer's text, finish_reason
                                    and usage (with stream_options.include_usage)
                                    as one JSON line in OUT, in seed order; prints
                                    the seconds from the first request to the last
                                    answer
  client.py raw HOST PORT MODE     one malformed or hostile HTTP exchange; prints
                                    the status (or "closed") and how long it took

Every socket has a timeout, so nothing here waits for ever.
"""
import http.client
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

# seconds a read may wait; a streaming client waiting in the server's queue
# gets no byte before its request starts
TIMEOUT = float(os.environ.get("L32_CLIENT_TIMEOUT", "60"))


def post(url, body, key=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    if key:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def chat(url, path):
    body = json.load(open(path))
    status, data = post(url + "/chat/completions", body)
    sys.stdout.write(data.decode() + "\n")
    return 0 if status == 200 else 1


def stream_events(host, port, prefix, body):
    """Yields each data: payload of a streamed answer as it arrives."""
    c = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    c.request("POST", prefix + "/chat/completions", json.dumps(body),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError("status %d: %s" % (r.status, r.read()[:200]))
    if not r.getheader("Content-Type", "").startswith("text/event-stream"):
        raise RuntimeError("content type " + r.getheader("Content-Type", ""))
    buf = b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            if not ev.startswith(b"data: "):
                raise RuntimeError("not an SSE data line: %r" % ev[:80])
            yield ev[6:].decode()
    c.close()
    if buf:
        raise RuntimeError("stream ended inside an event: %r" % buf[:80])


def split_url(url):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port, u.path


def stream(url, path):
    host, port, prefix = split_url(url)
    for ev in stream_events(host, port, prefix, json.load(open(path))):
        print(ev)
    return 0


def one_of_many(host, port, prefix, body, out, i):
    text, finish, done, err, usage = "", None, False, None, None
    try:
        for ev in stream_events(host, port, prefix, body):
            if ev == "[DONE]":
                done = True
                continue
            o = json.loads(ev)
            usage = o.get("usage") or usage
            for c in o["choices"]:
                text += c["delta"].get("content") or ""
                finish = c["finish_reason"] or finish
    except Exception as e:  # noqa: BLE001 - reported in the output line
        err = str(e)
    out[i] = {"seed": body["seed"], "content": text, "finish_reason": finish,
              "done": done, "error": err, "usage": usage}


def many(url, n, path, outpath):
    host, port, prefix = split_url(url)
    base = json.load(open(path))
    out = [None] * n
    threads = []
    t0 = time.monotonic()
    for i in range(n):
        body = dict(base, seed=i + 1, stream=True)
        t = threading.Thread(target=one_of_many, args=(host, port, prefix, body, out, i))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(TIMEOUT * 4)
    print("%.3f" % (time.monotonic() - t0))
    with open(outpath, "w") as f:
        for o in out:
            f.write(json.dumps(o if o is not None else {"error": "no answer"}) + "\n")
    return 0


def status_of(s, deadline):
    """Reads until the status line or the end; returns the status or 'closed'."""
    s.settimeout(max(0.1, deadline - time.monotonic()))
    data = b""
    try:
        while b"\r\n" not in data:
            c = s.recv(4096)
            if not c:
                break
            data += c
    except (socket.timeout, ConnectionResetError):
        pass
    if data.startswith(b"HTTP/1."):
        return data.split(b" ")[1].decode()
    return "closed"


CHAT = json.dumps({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}).encode()


def raw(host, port, mode):
    t0 = time.monotonic()
    s = socket.create_connection((host, int(port)), timeout=10)
    deadline = t0 + 10
    if mode == "request-line":
        s.sendall(b"GARBAGE\r\n\r\n")
    elif mode == "bad-header":
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n")
    elif mode == "bad-version":
        s.sendall(b"GET /health HTTP/9.7\r\nHost: x\r\n\r\n")
    elif mode == "big-header":
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (200 << 10) + b"\r\n\r\n")
    elif mode == "big-body":
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{")
    elif mode == "big-chunked":
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(64):
                s.sendall(b"10000\r\n" + b" " * 0x10000 + b"\r\n")
        except OSError:
            pass
    elif mode == "slow":
        # one byte a second, for at most 30 bytes: the server must cut it off
        req = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        deadline = t0 + 30
        for b in req:
            try:
                s.sendall(bytes([b]))
            except OSError:
                break
            s.settimeout(1)
            try:
                if s.recv(1) == b"":
                    break
            except socket.timeout:
                continue
            except OSError:
                break
        print("closed %.1f" % (time.monotonic() - t0))
        return 0
    elif mode == "close-mid-stream" or mode == "close-waiting":
        body = json.dumps({"messages": [{"role": "user", "content": "Tell a long story."}],
                           "max_tokens": 100000, "ignore_eos": True,
                           "stream": mode == "close-mid-stream"}).encode()
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        if mode == "close-mid-stream":
            st = status_of(s, deadline)
            s.recv(4096)
        else:
            st = "sent"
            time.sleep(0.5)
        s.close()
        print(st)
        return 0
    else:
        raise SystemExit("raw: unknown mode " + mode)
    st = status_of(s, deadline)
    s.close()
    print("%s %.1f" % (st, time.monotonic() - t0))
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "chat":
        return chat(argv[2], argv[3])
    if len(argv) >= 4 and argv[1] == "stream":
        return stream(argv[2], argv[3])
    if len(argv) >= 6 and argv[1] == "many":
        return many(argv[2], int(argv[3]), argv[4], argv[5])
    if len(argv) >= 5 and argv[1] == "raw":
        return raw(argv[2], argv[3], argv[4])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
