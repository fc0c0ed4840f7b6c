"""The compose target for real: the stack's images built here (`make images`), run by
Docker Compose, driven through the Docker SDK. Every test here needs a Docker engine
(tests/dockerd/engine.py starts one when it can) and is marked ``docker`` and ``slow``.

The stack's test helpers (polling with deadlines, the monitor's view, consistency with
the ledger) are shared with tests/stack.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stack"))
