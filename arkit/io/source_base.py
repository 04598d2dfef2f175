"""The frame-source interface: anything that yields :class:`arkit.core.Frame` in order."""

from __future__ import annotations

import abc
from typing import Iterator, Optional

from arkit.core.camera import Intrinsics
from arkit.core.frame import Frame


class FrameSource(abc.ABC):
    """An ordered stream of frames (video file, webcam, image folder, recording, ...).

    Iterate it (``for frame in source``) or use it as a context manager to release devices
    and files. Frames that cannot be read in the middle of a stream are skipped with a
    warning (``skipped_frames`` counts them); a source that cannot be opened at all raises
    :class:`arkit.core.errors.SourceError` from its constructor.
    """

    #: Human-readable name (file path, ``webcam:0``, ...).
    name: str = ""

    @property
    @abc.abstractmethod
    def intrinsics(self) -> Intrinsics:
        """Intrinsics of the frames this source yields."""

    @property
    def num_frames(self) -> Optional[int]:
        """Number of frames when known in advance (None for live or unknown-length streams)."""
        return None

    @property
    def fps(self) -> Optional[float]:
        """Nominal frame rate when known."""
        return None

    skipped_frames: int = 0

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Frame]:
        ...

    def _skip(self, why: str) -> None:
        """Count a frame that cannot be read and warn, naming the source (streams go on)."""
        import warnings

        self.skipped_frames += 1
        prefix = f"{self.name}: " if self.name and not why.startswith(str(self.name)) else ""
        warnings.warn(f"{prefix}{why}; skipping the frame", stacklevel=3)

    def _iter_indexed(self, count: int) -> Iterator[Frame]:
        """Yield ``self.read(i)`` for ``i < count``, skipping unreadable frames with a warning.

        For random-access sources that implement ``read(i)`` and raise
        :class:`arkit.core.errors.InputFileError` for a frame that cannot be read."""
        import logging

        from arkit.core.errors import InputFileError

        for i in range(count):
            try:
                yield self.read(i)
            except InputFileError as e:
                self.skipped_frames += 1
                logging.getLogger(type(self).__module__).warning("skipping frame %d: %s", i, e)

    def close(self) -> None:
        """Release files and devices (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
