from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))  # after tests/: its modules win clashes

from apiserver import apiserver, kubeconfig  # noqa: F401  (pytest fixtures)
