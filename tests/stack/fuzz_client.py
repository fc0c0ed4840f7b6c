"""A raw keep-alive HTTP/1.1 client for the fuzz suite: sends exactly the bytes it is given.

httpx (like any well-behaved client) refuses to send a NUL or a CR/LF in a path, normalises
percent-escapes and reconnects silently when the server drops a keep-alive connection.
The fuzz suite needs the opposite: the request exactly as written, and to *see* a dropped
connection. :class:`KeepAlive` keeps one TCP connection per service; when the server
closes it (or answers ``Connection: close``), the request that caused it is marked
``dropped`` and the next one opens a new connection.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

__all__ = ["Answer", "KeepAlive"]

_MAX_HEAD = 256 * 1024


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer at all
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    dropped: bool = False  # the server closed the connection after (or instead of) answering
    error: str = ""
    #: The connection the *previous* answer came on was found closed when this request
    #: was sent: the previous request dropped it.
    prior_dropped: bool = False


class KeepAlive:
    """One keep-alive connection to ``host:port``; :meth:`send` one raw request at a time."""

    def __init__(self, host: str, port: int, *, timeout_s: float = 15.0) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._sock: socket.socket | None = None
        self._buf = b""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buf = None, b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buf = b""
        return self._sock

    def request(
        self,
        method: str,
        target: bytes | str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """Send ``method target`` (the request-target byte for byte) and read the answer."""
        if isinstance(target, str):
            target = target.encode("latin-1")
        head = [method.encode() + b" " + target + b" HTTP/1.1", f"Host: {self.host}".encode()]
        for name, value in (headers or {}).items():
            head.append(f"{name}: ".encode() + value.encode("latin-1"))
        if body is not None:
            head.append(f"Content-Length: {len(body)}".encode())
        return self.send_raw(b"\r\n".join(head) + b"\r\n\r\n" + (body or b""))

    def send_raw(self, raw: bytes) -> Answer:
        """Send ``raw`` as it is on the open connection (or a new one) and read one answer."""
        reused = self._sock is not None
        try:
            sock = self._connect()
            sock.sendall(raw)
            answer = self._read(sock)
        except (ConnectionError, TimeoutError, OSError) as exc:
            self.close()
            if reused and not isinstance(exc, TimeoutError):
                # The server had closed the idle connection: that drop belongs to the
                # *previous* request; try this one on a new connection.
                answer = self.send_raw(raw)
                answer.prior_dropped = True
                return answer
            return Answer(None, dropped=True, error=f"{type(exc).__name__}: {exc}")
        if answer.dropped:
            self.close()
        return answer

    def _fill(self, sock: socket.socket) -> bool:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        self._buf += chunk
        return True

    def _read(self, sock: socket.socket) -> Answer:
        while b"\r\n\r\n" not in self._buf:
            if len(self._buf) > _MAX_HEAD or not self._fill(sock):
                raise ConnectionResetError("closed before an answer head")
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            length = int(headers["content-length"])
            while len(self._buf) < length:
                if not self._fill(sock):
                    return Answer(status, headers, self._buf, dropped=True, error="short body")
            body, self._buf = self._buf[:length], self._buf[length:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked(sock)
        else:
            while self._fill(sock):
                pass
            body, self._buf = self._buf, b""
            return Answer(status, headers, body, dropped=True)
        dropped = headers.get("connection", "").lower() == "close"
        return Answer(status, headers, body, dropped=dropped)

    def _chunked(self, sock: socket.socket) -> bytes:
        parts = []
        while True:
            while b"\r\n" not in self._buf:
                if not self._fill(sock):
                    raise ConnectionResetError("closed mid-chunk")
            line, self._buf = self._buf.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            while len(self._buf) < size + 2:
                if not self._fill(sock):
                    raise ConnectionResetError("closed mid-chunk")
            parts.append(self._buf[:size])
            self._buf = self._buf[size + 2:]
            if size == 0:
                return b"".join(parts)
