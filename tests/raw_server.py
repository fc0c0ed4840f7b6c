"""A raw TCP server on 127.0.0.1 for tests of what the load generator does on the wire:
each accepted connection served by a handler in its own thread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

__all__ = ["raw_server", "read_request"]


@contextmanager
def raw_server(handle: Callable[[socket.socket], None]) -> Iterator[tuple[str, list[int]]]:
    """A TCP server on a free port; ``handle`` serves each accepted connection in a thread.
    Yields the base URL and a one-item list counting the connections accepted."""
    srv = socket.create_server(("127.0.0.1", 0))
    accepted = [0]

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            accepted[0] += 1
            threading.Thread(target=_guard, args=(handle, conn), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}", accepted
    finally:
        srv.close()


def _guard(handle: Callable[[socket.socket], None], conn: socket.socket) -> None:
    with conn, suppress(OSError):
        handle(conn)


def read_request(conn: socket.socket, seen: list[bytes] | None = None) -> bytes | None:
    """One request's head (reading a body as long as its Content-Length too), or None at
    EOF; the whole request is appended to ``seen`` when given."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            while len(body) < int(line.split(b":")[1]):
                body += conn.recv(4096)
    if seen is not None:
        seen.append(head + b"\r\n\r\n" + body)
    return head
