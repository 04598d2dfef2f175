"""Planes and trackables of a recording as one JSON document.

Layout (``format: arkit-trackables``, version 1)::

    {"format": "arkit-trackables", "version": 1, "recording": "...", "frames": 300,
     "planes":     [PlaneTrackable.to_dict() + {"first_seen": i, "last_seen": j}, ...],
     "trackables": [every other trackable, same form],
     "anchors":    [Anchor.to_dict(), ...]}

Poses are 4x4 row-major lists (``T_world_local``, world = the recording's world frame);
NaN and infinite numbers are written as ``null`` so the file is strict JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

FORMAT_NAME = "arkit-trackables"
FORMAT_VERSION = 1


def _strict(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _strict(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_strict(x) for x in v]
    return v


def trackables_document(state) -> dict:
    """The JSON mapping for a :class:`arkit.export.snapshot.RecordingState`."""
    planes, others = [], []
    for t in state.trackables:
        d = t.to_dict()
        d["first_seen"] = state.first_seen.get(t.id)
        d["last_seen"] = state.last_seen.get(t.id)
        (planes if t.kind == "plane" else others).append(d)
    return _strict({"format": FORMAT_NAME, "version": FORMAT_VERSION, "recording": str(state.path),
                    "frames": state.frames, "intrinsics": state.intrinsics.to_dict(), "planes": planes,
                    "trackables": others, "anchors": [a.to_dict() for a in state.anchors]})


def export_json(state, path) -> Path:
    """Write :func:`trackables_document` to ``path`` (atomically) and return the path.

    Parameters
    ----------
    state : RecordingState or str or Path
        A state from :func:`arkit.export.snapshot.recording_state`, or a recording folder.
    path : str or Path
    """
    from arkit.io.atomic import atomic_write_text

    if not hasattr(state, "trackables"):
        from arkit.export.snapshot import recording_state

        state = recording_state(state)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(trackables_document(state), indent=1, allow_nan=False))
