"""``builtin:<recipe>[:<frames>]``: a built-in synthetic sequence, generated once into the cache.

``open_source("builtin:marker_room")`` generates (the first time) and opens the 300-frame
640x480 ``marker_room`` sequence from :mod:`arkit.synthetic`; ``builtin:marker_board:120`` asks
for 120 frames. The result is an ordinary TUM RGB-D folder with depth and ground-truth poses.
"""

from __future__ import annotations

import sys

from arkit.core.errors import SourceError
from arkit.io.sources import register_reader

PREFIX = "builtin:"
DEFAULT_FRAMES = 300


def is_builtin_uri(uri: str) -> bool:
    return isinstance(uri, str) and uri.startswith(PREFIX)


def open_builtin(uri: str, intrinsics=None, **options):
    """Open ``builtin:<recipe>[:<frames>]`` (640x480, seed 0)."""
    from arkit.io.tum_rgbd import TumRgbdSource
    from arkit.synthetic import ensure_builtin_sequence

    parts = uri[len(PREFIX):].split(":")
    name = parts[0]
    try:
        frames = int(parts[1]) if len(parts) > 1 else DEFAULT_FRAMES
    except ValueError:
        raise SourceError(f"'{uri}': the frame count after the recipe name must be an integer") from None
    if frames <= 0 or len(parts) > 2:
        raise SourceError(f"'{uri}': use builtin:<recipe> or builtin:<recipe>:<frames>")
    from arkit.core.errors import ArkitError

    from tqdm import tqdm

    bar = None

    def progress(done: int, total: int) -> None:
        # Only called while the sequence is being generated (the first time).
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="frame", desc=f"generating {uri} (first run only)", file=sys.stderr,
                       mininterval=1.0)
        bar.update(done - bar.n)

    try:
        folder = ensure_builtin_sequence(name, num_frames=frames, width=640, height=480, progress=progress)
    except ArkitError as e:
        raise SourceError(f"'{uri}': {e}") from None
    finally:
        if bar is not None:
            bar.close()
    if intrinsics is not None:
        return TumRgbdSource(folder, intrinsics=intrinsics, **options)
    return TumRgbdSource(folder, **options)


register_reader(is_builtin_uri, open_builtin, name="builtin:<recipe>[:<frames>] (synthetic)", priority=10)
