"""Same-shape frames shared with a child process through shared memory: :class:`SharedFrames`.

Sending a 640x480 frame through a pipe costs two kernel copies and a fresh buffer per frame
(1-2 ms of the child's CPU measured); a ring of slots in shared memory costs one copy into the
slot. The memory is an anonymous file (``memfd_create`` on Linux; elsewhere a temporary file
unlinked at once) whose descriptor the child inherits (``WorkerProcess(pass_fds=...)``): no name
exists in the file system, so nothing stays behind whichever process dies first.
"""

from __future__ import annotations

import mmap
import os
import tempfile

import numpy as np


def _anonymous_file(size: int) -> int:
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("arkit-frames", 0)   # not inheritable until passed explicitly
    else:
        fd, path = tempfile.mkstemp(prefix="arkit-frames-")
        os.unlink(path)
    os.ftruncate(fd, size)
    return fd


class SharedFrames:
    """``slots`` uint8 arrays of ``shape`` in anonymous shared memory.

    Parameters
    ----------
    shape : tuple
        One frame's shape, e.g. ``(480, 640, 3)``.
    slots : int

    Attributes
    ----------
    fd : int
        The descriptor to pass to the child (``pass_fds``) and to :func:`attach` there.
    array : (slots, *shape) uint8 ndarray
    """

    def __init__(self, shape, slots: int):
        self.shape = tuple(int(s) for s in shape)
        self.slots = int(slots)
        self.size = max(1, int(np.prod(self.shape)) * self.slots)
        self.fd = _anonymous_file(self.size)
        self._mm = mmap.mmap(self.fd, self.size)
        self.array = np.ndarray((self.slots, *self.shape), np.uint8, buffer=self._mm)

    def close(self) -> None:
        """Release this process's mapping and descriptor (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.array = None
        try:
            self._mm.close()
        except (BufferError, ValueError):
            pass  # a view is still alive; the mapping goes with it

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def attach(fd: int, shape, slots: int) -> np.ndarray:
    """The child's view of a :class:`SharedFrames` ring: a (slots, *shape) uint8 array."""
    size = int(np.prod(shape)) * int(slots)
    mm = mmap.mmap(fd, size)
    os.close(fd)   # the mapping stays valid
    return np.ndarray((int(slots), *tuple(shape)), np.uint8, buffer=mm)
