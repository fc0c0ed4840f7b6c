"""``gameday serve --reports --no-deployments``: the reports folder over HTTP, read-only,
loopback by default; hostile paths answered 4xx."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from gameday.reports_server import is_loopback, public_url

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    def __init__(self, port: int, reports: Path, log: Path, process: subprocess.Popen) -> None:
        self.port, self.reports, self.log, self.process = port, reports, log, process

    def request(self, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
        """``path`` sent exactly as given (no client-side normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            conn.endheaders()
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()


@contextlib.contextmanager
def _serving(tmp_path: Path) -> Iterator[Served]:
    reports = tmp_path / "reports"
    run = reports / "20261122-073000-standard-abcdef"
    run.mkdir(parents=True)
    (run / "report.html").write_text("<!DOCTYPE html><title>report</title>")
    (reports / "index.html").write_text("<!DOCTYPE html><title>index</title>")
    (tmp_path / "secret.txt").write_text("not for the team")
    (reports / "link-out").symlink_to(tmp_path / "secret.txt")
    port, log = _free_port(), tmp_path / "serve.log"
    env = {**os.environ, "GAMEDAY_REPORTS_DIR": str(reports),
           "GAMEDAY_STATE_DIR": str(tmp_path / "state")}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "gameday", "serve", "--reports", "--no-deployments",
             "--reports-port", str(port)], cwd=REPO, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    s = Served(port, reports, log, process)
    try:
        deadline = time.monotonic() + 60
        while "reports of" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield s
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(20)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with _serving(tmp_path_factory.mktemp("served")) as s:
        yield s


def test_reports_are_served_read_only_on_loopback(served: Served) -> None:
    assert f"at http://127.0.0.1:{served.port}/" in served.log.read_text()
    status, headers, body = served.request("GET", "/")
    assert status == 200 and b"<title>index</title>" in body
    status, headers, body = served.request(
        "GET", "/20261122-073000-standard-abcdef/report.html")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert headers["x-content-type-options"] == "nosniff"
    assert served.request("HEAD", "/")[0] == 200
    for method in ("POST", "PUT", "DELETE"):
        assert served.request(method, "/index.html")[0] == 405
    listening = {c.laddr.ip for c in psutil.net_connections("inet")
                 if c.laddr and c.laddr.port == served.port and c.status == "LISTEN"}
    assert listening == {"127.0.0.1"}


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
    "/20261122-073000-standard-abcdef/../../secret.txt", "/link-out", "/%00", "/a%00b",
    "/%ff%fe", "/nope.html", "/20261122-073000-standard-abcdef/report.html/x",
    "/" + "a" * 4000, "/<script>alert(1)</script>",
])
def test_hostile_and_missing_paths_get_a_clean_4xx(served: Served, path: str) -> None:
    status, _, body = served.request("GET", path)
    assert 400 <= status < 500, (path, status, body[:200])
    assert b"not for the team" not in body and b"<script>" not in body


def test_stopping_serve_stops_the_reports_server(tmp_path: Path) -> None:
    with _serving(tmp_path) as served:
        _stop_and_check(served)


def _stop_and_check(served: Served) -> None:
    children = psutil.Process(served.process.pid).children(recursive=True)
    assert children, "the reports server runs as a child"
    served.process.send_signal(signal.SIGTERM)
    served.process.wait(20)
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive


def test_a_wildcard_address_is_named_by_the_host_and_flagged_as_public() -> None:
    assert public_url("0.0.0.0", 8088) == f"http://{socket.getfqdn()}:8088/"
    assert public_url("::1", 80) == "http://[::1]:80/"
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("gameday-host")


def test_the_deployments_are_handed_the_reports_url(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from gameday.cli import build_parser
    from gameday.cli.serve import _serve_reports

    args = build_parser().parse_args(["serve", "--reports", "--reports-port",
                                      str(_free_port())])
    monkeypatch.setenv("GAMEDAY_REPORTS_DIR", str(tmp_path))
    monkeypatch.delenv("GAMEDAY_REPORT_URL", raising=False)
    env = dict(os.environ)
    process = _serve_reports(args, env)
    try:
        assert env["GAMEDAY_REPORT_URL"] == f"http://127.0.0.1:{args.reports_port}/"
    finally:
        process.terminate()
        process.wait(10)
