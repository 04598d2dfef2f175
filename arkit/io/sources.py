"""``open_source``: one entry point that turns a URI into a :class:`FrameSource`.

Recognised, in this order:

1. an ``int`` or a digit string (``0``, ``"1"``): a webcam index;
2. anything a registered reader claims (:func:`register_reader`; the modules in
   :mod:`arkit.io.readers` register themselves: recorded sessions such as EuRoC, nerfstudio,
   Stray Scanner, 7-Scenes, KITTI);
3. a file with a video extension (``.mp4``, ``.avi``, ``.mov``, ``.mkv``, ...);
4. a folder with ``rgb.txt``: a TUM RGB-D folder;
5. a folder of images, or a glob pattern (``"shots/*.jpg"``): an image sequence.

>>> import arkit
>>> src = arkit.open_source("capture.mp4", intrinsics="calib.yml")   # doctest: +SKIP
>>> for frame in src: ...                                             # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import pkgutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Union

from arkit.core.errors import InputFileError, SourceError
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)

SUPPORTED = (
    "a webcam index (0, 1, ...)",
    "a video file (.mp4, .avi, .mov, .mkv, .webm, ...)",
    "a TUM RGB-D folder (with rgb.txt)",
    "a folder of images or a glob pattern such as 'frames/*.png'",
)


@dataclass(frozen=True)
class ReaderEntry:
    """One registered reader: ``probe(uri) -> bool`` and ``factory(uri, **options) -> FrameSource``."""

    probe: Callable[[str], bool]
    factory: Callable[..., FrameSource]
    name: str
    priority: int = 0


_READERS: List[ReaderEntry] = []
_discovered = False


def register_reader(probe_fn: Callable[[str], bool], factory: Callable[..., FrameSource], *,
                    name: str = "", priority: int = 0) -> ReaderEntry:
    """Teach :func:`open_source` a new format.

    Parameters
    ----------
    probe_fn : callable(str) -> bool
        Returns True when the URI (a path string, or any other string such as ``builtin:x``)
        is in this format. Must be cheap and must not raise (exceptions count as False).
    factory : callable(uri, **options) -> FrameSource
        Opens the source. It receives ``intrinsics=`` only when the caller gave intrinsics and
        the factory accepts that keyword.
    name : str
        Shown in the "supported inputs" list of error messages.
    priority : int
        Higher is probed first (ties: registration order).

    Returns
    -------
    ReaderEntry
        Registering the same ``(probe_fn, factory)`` again replaces the old entry.
    """
    entry = ReaderEntry(probe_fn, factory, name or getattr(factory, "__name__", "reader"), int(priority))
    _READERS[:] = [r for r in _READERS if not (r.probe is probe_fn and r.factory is factory) and
                   not (name and r.name == name)]
    _READERS.append(entry)
    _READERS.sort(key=lambda r: -r.priority)  # stable: keeps registration order within a priority
    return entry


def registered_readers() -> List[ReaderEntry]:
    """The registered readers (after importing :mod:`arkit.io.readers`), probe order."""
    _discover_readers()
    return list(_READERS)


def _discover_readers() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    import arkit.io.readers as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{pkg.__name__}.{mod.name}")
        except Exception as e:  # noqa: BLE001 - one broken reader must not disable open_source
            log.warning("reader module arkit.io.readers.%s failed to import: %s", mod.name, e)


def _accepts(factory, keyword: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == keyword or p.kind == p.VAR_KEYWORD for p in params)


def _construct(factory, what: str, *args, **kwargs) -> FrameSource:
    """Call ``factory`` after checking that it accepts every option (clear error otherwise)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory(*args, **kwargs)
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            accepted = [n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)][1:]
            raise SourceError(f"{what} does not take the option(s) {', '.join(unknown)}; "
                              f"it accepts: {', '.join(accepted) or 'none'}")
    return factory(*args, **kwargs)


def _supported_text() -> str:
    names = [f"a {r.name} recording" for r in _READERS]
    return "; ".join(list(SUPPORTED) + names)


def open_source(uri: Union[str, int, "os.PathLike[str]"], intrinsics=None, **options) -> FrameSource:
    """Open a video file, webcam, image folder, TUM folder or recorded session.

    Parameters
    ----------
    uri : str or int or Path
        What to open (see the module docstring for the recognised forms).
    intrinsics : Intrinsics or str or Path, optional
        Calibration, or a calibration file (any :func:`arkit.io.intrinsics_files.load_intrinsics`
        format). Sources guess one (with a warning) when it is omitted and they have none.
    **options
        Passed to the source's constructor (e.g. ``fps=`` for image folders, ``depth_scale=``
        for TUM, ``max_frames=``).

    Returns
    -------
    FrameSource

    Raises
    ------
    InputFileError
        The path does not exist.
    SourceError
        Nothing recognises ``uri``; the message lists the supported inputs.
    """
    if isinstance(uri, bool):
        raise SourceError(f"cannot open {uri!r} as a frame source; supported: {_supported_text()}")
    if isinstance(uri, int) or (isinstance(uri, str) and uri.strip().isdigit()):
        from arkit.io.webcam_source import WebcamSource

        return _construct(WebcamSource, f"webcam {int(uri)}", int(uri), intrinsics=intrinsics, **options)
    if not isinstance(uri, (str, os.PathLike)):
        raise SourceError(f"cannot open a {type(uri).__name__} as a frame source; supported: {_supported_text()}")
    s = os.fspath(uri)
    if not s.strip():
        raise SourceError(f"empty source path; supported: {_supported_text()}")

    _discover_readers()
    for entry in _READERS:
        try:
            claimed = bool(entry.probe(s))
        except Exception as e:  # noqa: BLE001 - a probe must not break open_source
            log.debug("reader %s probe failed on %s: %s", entry.name, s, e)
            claimed = False
        if claimed:
            log.info("opening %s with the %s reader", s, entry.name)
            kwargs = dict(options)
            if intrinsics is not None:
                if _accepts(entry.factory, "intrinsics"):
                    kwargs["intrinsics"] = intrinsics
                else:
                    warnings.warn(f"{s}: the {entry.name} reader uses the recording's own calibration; "
                                  f"the given intrinsics are ignored", stacklevel=2)
            return _construct(entry.factory, f"the {entry.name} reader", s, **kwargs)

    from arkit.io.image_folder_source import IMAGE_EXTENSIONS, ImageFolderSource, is_glob
    from arkit.io.video_source import VIDEO_EXTENSIONS, VideoFileSource

    p = Path(s)
    if not p.exists():
        if is_glob(s):
            return _construct(ImageFolderSource, "an image sequence", s, intrinsics=intrinsics, **options)
        raise InputFileError(f"source {s} does not exist; check the path (supported: {_supported_text()})")
    if p.is_file():
        if p.suffix.lower() in VIDEO_EXTENSIONS:
            return _construct(VideoFileSource, f"video {s}", p, intrinsics=intrinsics, **options)
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            return _construct(ImageFolderSource, "an image sequence", [p], intrinsics=intrinsics, **options)
        raise SourceError(f"{s}: unrecognised file type '{p.suffix}'; supported: {_supported_text()}")
    from arkit.io.tum_rgbd import TumRgbdSource, is_tum_folder

    if is_tum_folder(p):
        return _construct(TumRgbdSource, f"TUM folder {s}", p, intrinsics=intrinsics, **options)
    if p.is_dir():
        from arkit.io.image_folder_source import list_images

        if not list_images(p):
            raise SourceError(f"{s} is a folder without images, rgb.txt or a recognised recording; "
                              f"supported: {_supported_text()}")
        return _construct(ImageFolderSource, "an image sequence", p, intrinsics=intrinsics, **options)
    raise SourceError(f"cannot open {s} as a frame source; supported: {_supported_text()}")
