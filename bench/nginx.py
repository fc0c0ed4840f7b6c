"""A fast third-party HTTP server for the load generator's benchmarks: Debian's nginx,
with its own prefix and config in a temporary folder, on a free 127.0.0.1 port, serving
one static voter-like answer at ``/inventory/<product>`` (so it is never the bottleneck,
and the generator parses a real body). System services are never touched."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.common import free_port

__all__ = ["BODY", "nginx"]

BODY = {"success": True, "quorum_achieved": True,
        "data": {"product_id": "PROD-001", "available_quantity": 1000}}

_CONF = """worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  default_type application/json;
  server {{ listen 127.0.0.1:{port}; root {prefix}/html; }}
}}
"""


@contextlib.contextmanager
def nginx(products: tuple[str, ...] = ("PROD-001",)) -> Iterator[str]:
    """Yield the base URL of an nginx serving :data:`BODY` for each product; stopped (and
    its folder removed) on the way out. Raises RuntimeError when nginx is missing."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed: apt-get install -y nginx-light")
    with tempfile.TemporaryDirectory(prefix="gameday-bench-nginx-") as tmp:
        prefix = Path(tmp)
        # Run as root, nginx's workers run as nobody: the folder (0700 from mkdtemp)
        # must be readable, or every answer is 403 (and the benchmark times failures).
        prefix.chmod(0o755)
        (prefix / "html" / "inventory").mkdir(parents=True)
        for product in products:
            (prefix / "html" / "inventory" / product).write_text(json.dumps(BODY))
        port = free_port()
        conf = prefix / "nginx.conf"
        conf.write_text(_CONF.format(prefix=prefix, port=port))
        proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf),
                                 "-e", str(prefix / "error.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(
                        ("127.0.0.1", port), timeout=0.5):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"nginx did not start on port {port}: {err.strip()}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
