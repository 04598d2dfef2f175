"""arkit's own recordings (folders written by ``arkit record``; see :mod:`arkit.recording.format`)."""

from __future__ import annotations

from arkit.io.sources import register_reader
from arkit.recording.format import is_recording


def open_arkit_recording(uri: str, **options):
    """A :class:`arkit.recording.ReplaySource` (options: ``speed``, ``max_frames``, ``load_depth``)."""
    from arkit.recording.replay import ReplaySource

    return ReplaySource(uri, **options)


register_reader(is_recording, open_arkit_recording, name="saved arkit (recording.json)", priority=5)
