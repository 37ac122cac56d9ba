"""Fault-injecting proxies for the fault suite (tests/k8s/test_faults.py), run in threads of the test process.

* ``TcpProxy(target_port)``: a plain TCP relay on 127.0.0.1 (TLS passes through untouched: the apiserver's
  certificate names 127.0.0.1, so a kubeconfig pointing at the proxy works). ``cut()`` resets every live
  connection (what a broken watch stream looks like to the client); ``down()`` / ``up()`` refuse new
  connections and reset the live ones / accept again.
* ``HttpFaultProxy(target_port)``: an HTTP/1.1 reverse proxy in front of the S3 server (moto). ``fail(status,
  methods=...)`` answers matching requests with that status (500, 503 + an S3 XML error body) without
  forwarding them; ``slow(seconds)`` delays matching requests before forwarding; ``down()`` closes matching
  requests' connections without an answer; ``heal()`` forwards everything again. Counts what it did.

Pods on the real node use ``hostNetwork``, so they reach these proxies on 127.0.0.1 like the services behind.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


# ---------------------------------------------------------------------------------------------- TCP


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = HOST, port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._refusing = False
        self.cuts = 0
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((HOST, port))
        self._listener.listen(256)
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        threading.Thread(target=self._accept, name=f"tcp-proxy-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._conns |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with self._lock:
                self._conns.discard(src)
            with contextlib.suppress(OSError):
                src.close()

    def cut(self) -> int:
        """Reset every live connection (both sides). Returns how many sockets were cut."""
        with self._lock:
            conns, self._conns = set(self._conns), set()
        for conn in conns:
            _reset(conn)
        self.cuts += 1
        return len(conns)

    def down(self) -> None:
        self._refusing = True
        self.cut()

    def up(self) -> None:
        self._refusing = False

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()


def _reset(conn: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a crashed peer or a dropped route looks to the other side."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    with contextlib.suppress(OSError):
        conn.close()


# ---------------------------------------------------------------------------------------------- HTTP


@dataclass
class _Fault:
    mode: str = "pass"  # pass | fail | slow | down
    status: int = 503
    seconds: float = 0.0
    methods: frozenset[str] = frozenset()  # empty: every method


@dataclass
class HttpFaultProxy:
    target_port: int
    target_host: str = HOST
    fault: _Fault = field(default_factory=_Fault)
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    return b"".join(chunks)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _handle(self) -> None:
                body = self._body()
                fault = proxy.fault
                hit = fault.mode != "pass" and (not fault.methods or self.command in fault.methods)
                if hit and fault.mode == "down":
                    proxy.counts["dropped"] += 1
                    self.close_connection = True
                    _reset(self.connection)
                    return
                if hit and fault.mode == "fail":
                    proxy.counts[f"status-{fault.status}"] += 1
                    code = "SlowDown" if fault.status == 503 else "InternalError"
                    payload = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                               f"<Message>injected by the fault proxy</Message></Error>").encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                    return
                if hit and fault.mode == "slow":
                    proxy.counts["delayed"] += 1
                    time.sleep(fault.seconds)
                proxy.counts["forwarded"] += 1
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("transfer-encoding", "connection", "content-length")}
                headers["Content-Length"] = str(len(body))
                upstream = http.client.HTTPConnection(proxy.target_host, proxy.target_port, timeout=60)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    resp = upstream.getresponse()
                    data = resp.read()
                    self.send_response(resp.status, resp.reason)
                    for key, value in resp.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length", "date",
                                               "server"):
                            self.send_header(key, value)
                    if self.command == "HEAD":
                        length = resp.getheader("Content-Length")
                        if length is not None:
                            self.send_header("Content-Length", length)
                        self.end_headers()
                    else:
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name=f"http-fault-proxy-{self.port}",
                         daemon=True).start()

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def fail(self, status: int = 503, methods: tuple[str, ...] = ()) -> None:
        self.fault = _Fault("fail", status=status, methods=frozenset(methods))

    def slow(self, seconds: float, methods: tuple[str, ...] = ()) -> None:
        self.fault = _Fault("slow", seconds=seconds, methods=frozenset(methods))

    def down(self, methods: tuple[str, ...] = ()) -> None:
        self.fault = _Fault("down", methods=frozenset(methods))

    def heal(self) -> None:
        self.fault = _Fault()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
