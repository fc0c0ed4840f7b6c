"""What the second system (systems/lb.yaml) needs from Debian: haproxy and nginx-light
(tests/system.sh installs them). Tests that run it are slow and skip, saying why, without."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

__all__ = ["HAVE_LB_SOFTWARE", "LB_TESTS"]


def _installed(name: str) -> bool:
    return bool(shutil.which(name)) or Path(f"/usr/sbin/{name}").exists()


HAVE_LB_SOFTWARE = _installed("haproxy") and _installed("nginx")
#: The marks of a test module that runs systems/lb.yaml.
LB_TESTS = [pytest.mark.slow,
            pytest.mark.skipif(not HAVE_LB_SOFTWARE,
                               reason="apt-get install haproxy nginx-light (tests/system.sh does)")]
