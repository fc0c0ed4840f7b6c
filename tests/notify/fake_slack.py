"""A local stand-in for Slack's servers, the one true outside edge of the notifier.

It listens on 127.0.0.1 and answers like Slack:

- ``POST /api/chat.postMessage`` → ``{"ok": true, "ts": "...", "channel": "C..."}``
  (``{"ok": false, "error": "not_authed"}`` without a bearer token);
- ``POST /services/<T>/<B>/<X>`` (an incoming webhook) → ``ok`` (text);
- the three steps of slack-sdk's ``files_upload_v2``: ``POST /api/files.getUploadURLExternal``
  (form: ``filename``, ``length``) → ``{"ok": true, "upload_url", "file_id"}``, the upload
  URL (``POST /upload/<file_id>``, the raw bytes, no token) → ``OK - <length>``, and
  ``POST /api/files.completeUploadExternal`` (form: ``files`` as JSON, ``channel_id``,
  ``thread_ts``, ``initial_comment``) → ``{"ok": true, "files": [...]}``. The bytes
  uploaded are kept in ``uploads`` by file id.

Every request is recorded (path, headers, body: JSON, a form as a dict, or raw text;
an upload's body is its length). ``api_errors`` makes a Web API method answer
``{"ok": false, "error": ...}`` (e.g. ``missing_scope``); ``upload_status`` is what the
upload URL answers. ``fail_next(n, status,
retry_after=...)`` makes the next ``n`` requests answer ``status`` (429 with a
``Retry-After`` header, 500, 404 ...); ``delay_s`` makes every answer wait first.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

__all__ = ["FakeSlack", "Recorded"]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: Any
    at: float
    answered: int = 200


@dataclass
class _Failure:
    status: int
    retry_after: int | None


@dataclass
class FakeSlack:
    requests: list[Recorded] = field(default_factory=list)
    delay_s: float = 0.0
    channel_id: str = "C0GAMEDAY"
    uploads: dict[str, bytes] = field(default_factory=dict)
    api_errors: dict[str, str] = field(default_factory=dict)
    #: What the upload URL answers (500: the upload itself fails).
    upload_status: int = 200

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._counter = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                fake._handle(self)

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- control ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/services/T0TEST/B0TEST/X0SECRETHOOKPATH"

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, n: int, status: int, retry_after: int | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (and ``Retry-After``)."""
        with self._lock:
            self._failures.extend(_Failure(status, retry_after) for _ in range(n))

    def posts(self) -> list[Recorded]:
        """Requests to chat.postMessage that were answered 200, in order."""
        return [
            r for r in self.requests if r.path.endswith("chat.postMessage") and r.answered == 200
        ]

    def calls(self, method: str) -> list[Recorded]:
        """Requests to ``method`` (a Web API method, or "upload") answered 200, in order."""
        prefix = "/upload/" if method == "upload" else f"/api/{method}"
        return [r for r in self.requests if r.path.startswith(prefix) and r.answered == 200]

    def hooks(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/services/") and r.answered == 200]

    # -- serving -----------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body: Any
        if h.path.startswith("/upload/"):
            body = len(raw)
            self.uploads[h.path.rsplit("/", 1)[1]] = raw
        elif "x-www-form-urlencoded" in h.headers.get("Content-Type", ""):
            body = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
        else:
            try:
                body = json.loads(raw.decode("utf-8")) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        record = Recorded(path=h.path, headers=dict(h.headers.items()), body=body, at=time.time())
        with self._lock:
            self.requests.append(record)
            failure = self._failures.pop(0) if self._failures else None
            self._counter += 1
            counter = self._counter
        if self.delay_s:
            time.sleep(self.delay_s)
        if failure is not None:
            record.answered = failure.status
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
            self._send(h, failure.status, "text/plain", b"simulated failure", headers)
        elif h.path.startswith("/api/"):
            self._api(h, record, counter)
        elif h.path.startswith("/services/"):
            self._send(h, 200, "text/html", b"ok")
        elif h.path.startswith("/upload/"):
            record.answered = self.upload_status
            self._send(h, self.upload_status, "text/plain", f"OK - {record.body}".encode())
        else:
            record.answered = 404
            self._send(h, 404, "text/plain", b"no_service")

    def _api(self, h: BaseHTTPRequestHandler, record: Recorded, counter: int) -> None:
        if not h.headers.get("Authorization", "").startswith("Bearer "):
            answer: dict[str, Any] = {"ok": False, "error": "not_authed"}
        elif h.path.rsplit("/", 1)[1] in self.api_errors:
            answer = {"ok": False, "error": self.api_errors[h.path.rsplit("/", 1)[1]]}
        elif h.path.endswith("/chat.postMessage"):
            ts = f"{int(time.time())}.{counter:06d}"
            answer = {"ok": True, "channel": self.channel_id, "ts": ts, "message": {"ts": ts}}
        elif h.path.endswith("/files.getUploadURLExternal"):
            file_id = f"F0{counter:06d}"
            answer = {"ok": True, "file_id": file_id,
                      "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}
        elif h.path.endswith("/files.completeUploadExternal"):
            files = json.loads(record.body["files"])
            answer = {"ok": True, "files": [{"id": f["id"], "title": f.get("title")}
                                            for f in files]}
        else:
            answer = {"ok": False, "error": "unknown_method"}
        self._send(h, 200, "application/json", json.dumps(answer).encode())

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        content_type: str,
        payload: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(payload)
