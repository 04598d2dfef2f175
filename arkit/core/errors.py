"""Exceptions raised by arkit.

Every error a user can cause (bad file, bad value, missing dependency) raises a subclass of
:class:`ArkitError` whose message names the offending file or value and says what to do.
"""

from __future__ import annotations


class ArkitError(Exception):
    """Base class of every error arkit raises on purpose."""


class InputFileError(ArkitError):
    """A file is missing, unreadable or not in the expected format."""


class SourceError(ArkitError):
    """A frame source cannot be opened or read."""


class IntrinsicsError(ArkitError):
    """Camera intrinsics are malformed or do not match the frames."""


class FrameError(ArkitError):
    """A frame has the wrong shape, dtype or content."""


class SceneFileError(ArkitError):
    """A declarative scene file is malformed.

    Parameters
    ----------
    path : str
        The scene file.
    message : str
        What is wrong and how to fix it.
    line : int, optional
        1-based line of the offending key, when known.
    key : str, optional
        Dotted path of the offending key, e.g. ``content[2].scale``.
    """

    def __init__(self, path: str, message: str, line: int | None = None, key: str | None = None):
        self.path = str(path)
        self.line = line
        self.key = key
        where = self.path + (f":{line}" if line is not None else "")
        what = f" key '{key}'" if key else ""
        super().__init__(f"{where}:{what} {message}".replace(": ", ": ", 1))


class MissingDependencyError(ArkitError):
    """An optional dependency or system library is not available."""


class RendererError(ArkitError):
    """The renderer could not be created or failed to draw."""


class TrajectoryError(ArkitError):
    """A trajectory is malformed, or two trajectories cannot be compared (no matching
    timestamps, too few poses, degenerate geometry for an alignment)."""
