"""Make the ``mrtfeed`` package importable (it is not installed in the venv)."""

from __future__ import annotations

import sys
from pathlib import Path

_SERVICE = Path(__file__).resolve().parents[2] / "service"
if str(_SERVICE) not in sys.path:
    sys.path.insert(0, str(_SERVICE))
