"""Atomic file writing: a finished-looking file only ever exists once it is complete.

Every writer in arkit writes to a temporary file in the destination folder and renames it
over the final path on success (``os.replace`` is atomic on one file system). On failure the
temporary file is removed and any previous file at the final path is left untouched.

>>> from arkit.io.atomic import atomic_write_text
>>> atomic_write_text("/tmp/arkit_doctest.txt", "hello")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator, Union

PathLike = Union[str, "os.PathLike[str]"]


def temp_path_for(final_path: PathLike) -> Path:
    """A fresh, unused temporary path next to ``final_path`` with the same suffix.

    The suffix is kept so that tools choosing a format from the extension (PyAV, cv2.imwrite)
    still do. The file is created empty (to reserve the name); callers overwrite it.
    """
    final = Path(final_path)
    folder = final.parent if str(final.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the final file normal permissions
    return Path(tmp)


class AtomicOutput:
    """Context-manager behaviour of a writer with ``close()`` (finish and move the file into
    place) and ``abort()`` (discard it): a ``with`` block that raises leaves no file behind."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_temp(tmp_path: PathLike, final_path: PathLike) -> Path:
    """Rename a finished temporary file over ``final_path`` (atomic) and return the final path."""
    final = Path(final_path)
    os.replace(tmp_path, final)
    _fsync_dir(final.parent if str(final.parent) else Path("."))
    return final


def discard_temp(tmp_path: PathLike) -> None:
    """Remove a temporary file if it still exists (never raises)."""
    with contextlib.suppress(OSError):
        os.unlink(tmp_path)


@contextlib.contextmanager
def atomic_write_path(final_path: PathLike) -> Iterator[Path]:
    """Yield a temporary path in the same folder; rename it to ``final_path`` on success.

    Parameters
    ----------
    final_path : str or Path
        Where the finished file should appear. Its folder must exist.

    Yields
    ------
    Path
        The temporary path to write to. It keeps ``final_path``'s suffix.

    Raises
    ------
    arkit.core.errors.InputFileError
        If the destination folder does not exist.

    Examples
    --------
    >>> with atomic_write_path("out.png") as tmp:   # doctest: +SKIP
    ...     cv2.imwrite(str(tmp), image_bgr)
    """
    from arkit.core.errors import InputFileError

    final = Path(final_path)
    folder = final.parent if str(final.parent) else Path(".")
    if not folder.is_dir():
        raise InputFileError(f"cannot write {final}: the folder {folder} does not exist; create it first")
    tmp = temp_path_for(final)
    try:
        yield tmp
    except BaseException:
        discard_temp(tmp)
        raise
    else:
        if not tmp.exists():
            raise InputFileError(f"writing {final} failed: the temporary file {tmp} was not created")
        try:
            commit_temp(tmp, final)
        except BaseException:
            discard_temp(tmp)
            raise


def atomic_write_bytes(final_path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``final_path`` atomically and return the path."""
    with atomic_write_path(final_path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return Path(final_path)


def atomic_write_text(final_path: PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``final_path`` atomically and return the path."""
    return atomic_write_bytes(final_path, text.encode(encoding))
