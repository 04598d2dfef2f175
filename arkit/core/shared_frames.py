"""Same-shape frames shared with a child process through a memory-mapped file: :class:`SharedFrames`.

Sending a 640x480 frame through a pipe costs two kernel copies and a fresh buffer per frame
(1-2 ms of the child's CPU measured); a ring of slots in shared memory costs one copy into the
slot. The file lives in ``/dev/shm`` (RAM) where it exists, else in the temporary folder, and is
unlinked as soon as the child has mapped it, so nothing stays behind.
"""

from __future__ import annotations

import mmap
import os
import tempfile

import numpy as np


class SharedFrames:
    """``slots`` uint8 arrays of ``shape`` in a shared memory-mapped file.

    Parameters
    ----------
    shape : tuple
        One frame's shape, e.g. ``(480, 640, 3)``.
    slots : int

    Attributes
    ----------
    path : str
        The file to pass to :func:`attach` in the child (until :meth:`unlink`).
    array : (slots, *shape) uint8 ndarray
    """

    def __init__(self, shape, slots: int):
        self.shape = tuple(int(s) for s in shape)
        self.slots = int(slots)
        size = max(1, int(np.prod(self.shape)) * self.slots)
        folder = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        fd, self.path = tempfile.mkstemp(prefix="arkit-frames-", dir=folder)
        try:
            os.ftruncate(fd, size)
            self._mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.array = np.ndarray((self.slots, *self.shape), np.uint8, buffer=self._mm)
        self._linked = True

    def unlink(self) -> None:
        """Remove the file (the mappings stay valid); idempotent."""
        if self._linked:
            self._linked = False
            try:
                os.unlink(self.path)
            except OSError:
                pass

    def close(self) -> None:
        self.unlink()
        self.array = None
        try:
            self._mm.close()
        except (BufferError, ValueError):
            pass  # a view is still alive; the mapping goes with it

    def __del__(self):
        try:
            self.unlink()
        except Exception:  # noqa: BLE001
            pass


def attach(path: str, shape, slots: int) -> np.ndarray:
    """The child's view of a :class:`SharedFrames` ring: a (slots, *shape) uint8 array."""
    size = int(np.prod(shape)) * int(slots)
    with open(path, "r+b") as f:
        mm = mmap.mmap(f.fileno(), size)
    return np.ndarray((int(slots), *tuple(shape)), np.uint8, buffer=mm)
