"""Where the optional real test data lives (``../shared/data`` or ``$ARKIT_SHARED_DATA``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

_REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Optional[Path]:
    """The real-data folder, or None when it is absent (a user's fresh clone has none)."""
    env = os.environ.get("ARKIT_SHARED_DATA")
    candidates = [Path(env)] if env else [_REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def shared_data_path(*parts: str) -> Optional[Path]:
    """Path of a file or folder inside the real-data folder, or None if it is not there."""
    root = shared_data_dir()
    if root is None:
        return None
    p = root.joinpath(*parts)
    return p if p.exists() else None
