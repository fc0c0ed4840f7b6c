"""What the compose target costs before a GameDay starts: images, up, down.

- ``make images`` (``images/build.sh``) warm, and cold with ``--cold-images``: the local
  images, Docker's build cache and the cached base tarball are removed first, so the
  cold build runs debootstrap, apt-get and pip again (≈ the first `make images` of a fresh
  clone, minus Debian's and PyPI's own caches);
- ``gameday stack up --target compose`` (``docker compose up -d --build --wait``: every
  container created and healthy) and ``gameday stack down --target compose``
  (``docker compose down -v``), ``rounds`` times.

The engine's storage driver is recorded with the figures: vfs copies every image for
every container and is several times slower at both.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from bench.common import REPO, gameday, loadavg, percentiles

__all__ = ["run"]

IMAGES = ("gameday-stack:latest", "gameday-postgres:local", "gameday-broker:local",
          "gameday-base:bookworm")


def _timed_build() -> dict[str, Any]:
    t0 = time.time()
    proc = subprocess.run(["bash", "images/build.sh"], cwd=REPO, capture_output=True,
                          text=True, timeout=1800)
    out: dict[str, Any] = {"wall_s": round(time.time() - t0, 1), "exit_code": proc.returncode,
                           "loadavg": loadavg()}
    if proc.returncode != 0:
        out["error"] = (proc.stderr or proc.stdout)[-1500:]
    return out


def _forget_images() -> None:
    subprocess.run(["docker", "image", "rm", "-f", *IMAGES], capture_output=True, check=False)
    subprocess.run(["docker", "builder", "prune", "-af"], capture_output=True, check=False)
    for tarball in (REPO / ".gameday" / "images").glob("base-*.tar"):
        tarball.unlink()


def _storage_driver() -> str:
    out = subprocess.run(["docker", "info", "-f", "{{.Driver}}"], capture_output=True,
                         text=True, check=False)
    return out.stdout.strip() or "unknown"


def run(base_port: int, *, cold: bool = False, rounds: int = 3,
        progress: Any = print) -> dict[str, Any]:
    out: dict[str, Any] = {"storage_driver": _storage_driver(), "base_port": base_port}
    if cold:
        progress("  images: cold (removing the images, the build cache and the base tarball)")
        _forget_images()
        out["images_cold"] = _timed_build()
        progress(f"  images cold: {out['images_cold']['wall_s']} s")
    out["images_warm"] = _timed_build()
    progress(f"  images warm: {out['images_warm']['wall_s']} s")
    ups, downs = [], []
    where = ["--base-port", str(base_port), "--target", "compose"]
    for i in range(rounds):
        t0 = time.time()
        gameday("stack", "up", *where, "--timeout", "300", target="compose")
        t1 = time.time()
        gameday("stack", "down", *where, target="compose")
        ups.append(t1 - t0)
        downs.append(time.time() - t1)
        progress(f"  round {i + 1}: up {ups[-1]:.1f} s, down {downs[-1]:.1f} s "
                 f"(load {loadavg()[0]})")
    out.update({"up_s": percentiles(ups), "down_s": percentiles(downs), "rounds": rounds,
                "loadavg": loadavg()})
    return out
