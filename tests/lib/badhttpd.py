#!/usr/bin/python3
"""A deliberately misbehaving HTTP/1.1 server for icx.http's hardening tests.

Prints "PORT PID" once listening on 127.0.0.1 (the readiness line), serves
each connection in a thread, and exits by itself when its parent (the test)
goes away, or after 300 s, so a test that dies cannot leave it behind. Paths:
  /ok        200 "ok"
  /slow      200 with Content-Length 1000, then one byte a second
  /endless   200 without a length, then bytes until the client goes away
  /redirect  302 to /ok (counted, so a test can see it was not followed)
  /count     200 with the number of requests seen so far (this one excluded)
"""
import os
import socket
import threading
import time

seen = []


def serve(conn):
    conn.settimeout(60)
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        path = data.split(b" ", 2)[1].decode()
        if path != "/count":
            seen.append(path)
        if path == "/slow":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(1000):
                conn.sendall(b"x")
                time.sleep(1)
        elif path == "/endless":
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            while True:
                conn.sendall(b"x" * 65536)
        elif path == "/redirect":
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /ok\r\n"
                         b"Content-Length: 0\r\n\r\n")
        else:
            body = str(len(seen)).encode() if path == "/count" else b"ok"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(body), body))
    except OSError:
        pass
    finally:
        conn.close()


def watchdog(parent):
    deadline = time.monotonic() + 300
    while os.getppid() == parent and time.monotonic() < deadline:
        time.sleep(0.5)
    os._exit(0)


def main():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    threading.Thread(target=watchdog, args=(os.getppid(),), daemon=True).start()
    print(s.getsockname()[1], os.getpid(), flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
