"""Recorded sessions: record frames and results once, replay them with any scene.

* :func:`record` / :class:`Recorder` write a recording folder (layout: :mod:`arkit.recording.format`);
* :func:`open_recording` returns ``(ReplaySource, ReplayTracker)``: the recorded frames and the
  recorded camera states and trackables, exactly;
* ``arkit.open_source(REC_DIR)`` recognises a recording folder too.
"""

from __future__ import annotations

import importlib

_PUBLIC = {
    "record": "arkit.recording.recorder",
    "Recorder": "arkit.recording.recorder",
    "RecordingSummary": "arkit.recording.recorder",
    "open_recording": "arkit.recording.replay",
    "ReplaySource": "arkit.recording.replay",
    "ReplayTracker": "arkit.recording.replay",
    "read_info": "arkit.recording.format",
    "is_recording": "arkit.recording.format",
    "RecordingError": "arkit.recording.format",
    "RecordingInfo": "arkit.recording.format",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'arkit.recording' has no attribute {name!r}")
