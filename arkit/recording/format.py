"""The on-disk layout of an arkit recording (format ``arkit-recording``, version 2).

::

    REC_DIR/
      recording.json    header, written LAST: a folder is a finished recording only when it
                        holds this file (format, version, frames, size, fps, image storage,
                        depth storage, source, scene, interrupted flag)
      intrinsics.json   Intrinsics.to_dict() of the frames
      frames.mp4        camera frames, H.264 (default), or
      rgb/000000.png    camera frames, lossless 8-bit PNG (``--lossless``), one per frame
      depth/000000.u16.zst  depth, millimetres (round(m * 1000)), 0 = invalid, only when the source
                        had depth: Zstandard-compressed raw uint16 (``"depth_encoding": "zstd16"``,
                        version 2) or ``depth/000000.png``, 16-bit PNG (``"png16"``, version 1
                        recordings); see :mod:`arkit.recording.depth_codec`
      frames.jsonl      one JSON object per frame, in order (see below)

Each line of ``frames.jsonl``::

    {"i": 0,                          # position in the recording (0, 1, 2, ...)
     "index": 0, "timestamp_s": 0.0,  # the source frame's index and time
     "camera": {"T_world_camera": [[...4x4...]], "tracking_state": "TRACKING", "reason": ""},
     "trackables": [{"type": "arkit.core.trackables:MarkerTrackable", "fields": {...}}, ...],
     "changes": {"added": [...], "updated": [...], "removed": [...]},
     "anchors": [{"id": ..., "T_world_anchor": [[...]], "trackable_id": ..., "state": ...}],
     "depth": true,                   # a depth map exists for this frame
     "T_world_camera_recorded": [[...]] or null,   # the source's own pose (e.g. ground truth)
     "tracker_ids": ["marker:0", ...]}  # trackables from the camera tracker (the others came
                                        # from later stages: planes, recognition)

Floats are written by :mod:`json`, i.e. with ``repr``, the shortest text that reads back to the
same float64, so poses and trackables round-trip bit for bit. Trackables are stored with their
class and every dataclass field (arrays with dtype and shape, enums, tuples tagged), so replay
returns objects equal to the recorded ones, whatever trackable subclass they are.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError
from arkit.core.trackables import Anchor, CameraState, Trackable, TrackableChanges
from arkit.recording.depth_codec import PNG16, check_encoding

log = logging.getLogger(__name__)

FORMAT_NAME = "arkit-recording"
FORMAT_VERSION = 2  # 2: depth_encoding (zstd16 depth); version 1 recordings are read too
HEADER_FILE = "recording.json"
INTRINSICS_FILE = "intrinsics.json"
FRAMES_FILE = "frames.jsonl"
VIDEO_FILE = "frames.mp4"
RGB_DIR = "rgb"
DEPTH_DIR = "depth"
#: stored uint16 depth = round(metres * DEPTH_SCALE)
DEPTH_SCALE = 1000.0


class RecordingError(InputFileError):
    """A recording folder is missing, unfinished, truncated or of an unknown version."""


def frame_file(position: int) -> str:
    """File name of the PNG of recording position ``position``: ``000042.png``."""
    return f"{int(position):06d}.png"


def is_recording(path) -> bool:
    """True when ``path`` is a folder holding a finished arkit recording (cheap, never raises)."""
    try:
        p = Path(path)
        return p.is_dir() and (p / HEADER_FILE).is_file()
    except (OSError, TypeError, ValueError):
        return False


@dataclass(frozen=True)
class RecordingInfo:
    """The header (``recording.json``) of a recording.

    Attributes
    ----------
    path : Path
    frames : int
        Frames stored.
    width, height : int
    fps : float
        Nominal frame rate (the source's, else from the timestamps, else 30).
    image : {"video", "png"}
    has_depth : bool
    intrinsics : Intrinsics
    source : str
        Name of the source that was recorded.
    scene : str or None
        Scene file used while recording (for exports of its overlays).
    interrupted : bool
        The recording stopped early (error or Ctrl-C); it holds the frames done.
    depth_encoding : {"png16", "zstd16"}
        How depth maps are stored (:mod:`arkit.recording.depth_codec`); ``"png16"`` when the
        header does not say (version 1).
    extra : dict
        Any other header keys.
    """

    path: Path
    frames: int
    width: int
    height: int
    fps: float
    image: str
    has_depth: bool
    intrinsics: Intrinsics
    source: str = ""
    scene: Optional[str] = None
    interrupted: bool = False
    extra: dict = field(default_factory=dict)
    depth_encoding: str = "png16"


def read_info(path) -> RecordingInfo:
    """Read and check the header of the recording at ``path``.

    Raises
    ------
    RecordingError
        ``path`` is not a folder, has no ``recording.json`` (not a recording, or one that
        was never finished), or the header is malformed or from a newer format version.
    """
    p = Path(path)
    if not p.is_dir():
        raise RecordingError(f"recording {p} does not exist or is not a folder")
    header = p / HEADER_FILE
    if not header.is_file():
        raise RecordingError(f"{p} is not a finished arkit recording: {HEADER_FILE} is missing "
                             f"(the recording was interrupted before it was finalised, or this is another format)")
    try:
        d = json.loads(header.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RecordingError(f"{header}: cannot read the recording header ({e}); re-record it") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT_NAME:
        raise RecordingError(f"{header}: not an arkit recording header (format is {d.get('format')!r})")
    if int(d.get("version", 0)) > FORMAT_VERSION:
        raise RecordingError(f"{header}: recording format version {d.get('version')} is newer than this "
                             f"arkit reads ({FORMAT_VERSION}); upgrade arkit")
    try:
        K = Intrinsics.from_dict(json.loads((p / INTRINSICS_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError) as e:
        raise RecordingError(f"{p / INTRINSICS_FILE}: cannot read the intrinsics ({e})") from None
    known = {"format", "version", "frames", "width", "height", "fps", "image", "depth", "source", "scene",
             "interrupted", "depth_encoding"}
    try:
        return RecordingInfo(path=p, frames=int(d["frames"]), width=int(d["width"]), height=int(d["height"]),
                             fps=float(d["fps"]), image=str(d["image"]), has_depth=bool(d.get("depth", False)),
                             intrinsics=K, source=str(d.get("source", "")), scene=d.get("scene"),
                             interrupted=bool(d.get("interrupted", False)),
                             extra={k: v for k, v in d.items() if k not in known},
                             depth_encoding=check_encoding(str(d.get("depth_encoding", PNG16)), header))
    except (KeyError, TypeError, ValueError) as e:
        raise RecordingError(f"{header}: malformed header ({e!r}); re-record it") from None


# -- values <-> JSON ------------------------------------------------------------------------------
def encode_value(v: Any) -> Any:
    """A JSON-ready form of a trackable field value that :func:`decode_value` turns back exactly."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, enum.Enum):
        return {"__enum__": f"{type(v).__module__}:{type(v).__qualname__}", "value": encode_value(v.value)}
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, np.ndarray):
        return {"__nd__": v.tolist(), "dtype": v.dtype.str, "shape": list(v.shape)}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return {"__tuple__": [encode_value(x) for x in v]}
    if isinstance(v, list):
        return [encode_value(x) for x in v]
    if isinstance(v, dict):
        return {"__dict__": [[encode_value(k), encode_value(x)] for k, x in v.items()]}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return encode_typed(v)
    raise RecordingError(f"cannot record a value of type {type(v).__name__} ({v!r:.60}); trackable fields must "
                         f"be numbers, strings, enums, arrays, tuples, lists, dicts or dataclasses")


def _import_type(path: str):
    module, _, qualname = path.partition(":")
    if not module.startswith("arkit.") or not qualname:
        raise ImportError(f"refusing to import {path!r}: only arkit types are recorded")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def decode_value(v: Any) -> Any:
    """Inverse of :func:`encode_value`."""
    if isinstance(v, list):
        return [decode_value(x) for x in v]
    if not isinstance(v, dict):
        return v
    if "__nd__" in v:
        return np.array(v["__nd__"], dtype=np.dtype(v["dtype"])).reshape(v["shape"])
    if "__tuple__" in v:
        return tuple(decode_value(x) for x in v["__tuple__"])
    if "__enum__" in v:
        try:
            return _import_type(v["__enum__"])(decode_value(v["value"]))
        except (ImportError, AttributeError, ValueError):
            return decode_value(v["value"])
    if "__dict__" in v:
        return {decode_value(k): decode_value(x) for k, x in v["__dict__"]}
    if "type" in v and "fields" in v:
        return decode_typed(v)
    return v


def encode_typed(obj) -> dict:
    """``{"type": "module:Class", "fields": {...}}`` for a dataclass instance (e.g. a trackable)."""
    cls = type(obj)
    fields = {f.name: encode_value(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
    return {"type": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}


def decode_typed(d: dict):
    """Rebuild a dataclass written by :func:`encode_typed`.

    A trackable whose class cannot be imported (an arkit version without it) comes back as a
    plain :class:`Trackable` with its id, kind, pose, state and image points.
    """
    fields = {k: decode_value(x) for k, x in d["fields"].items()}
    try:
        cls = _import_type(d["type"])
        return cls(**fields)
    except (ImportError, AttributeError, TypeError) as e:
        if "id" in fields and "T_world_local" in fields:
            log.warning("recorded trackable type %s is not available (%s); replaying it as a plain Trackable",
                        d["type"], e)
            base = {k: fields[k] for k in ("id", "kind", "T_world_local", "state", "image_points_px") if k in fields}
            return Trackable(**base)
        raise RecordingError(f"cannot rebuild a recorded {d['type']}: {e}") from None


def _matrix(v) -> np.ndarray:
    return np.array(v, dtype=np.float64).reshape(4, 4)


# -- one frame ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameRecord:
    """One line of ``frames.jsonl``, decoded.

    Attributes
    ----------
    position : int
        0-based position in the recording.
    index : int
        The source frame's index.
    timestamp_s : float
    camera : CameraState
    trackables : tuple of Trackable
    changes : TrackableChanges
    anchors : tuple of Anchor
    has_depth : bool
    T_world_camera_recorded : (4, 4) float64 or None
    tracker_ids : tuple of str or None
        Ids of the trackables the camera tracker reported (None: not recorded).
    """

    position: int
    index: int
    timestamp_s: float
    camera: CameraState
    trackables: tuple = ()
    changes: TrackableChanges = field(default_factory=TrackableChanges)
    anchors: tuple = ()
    has_depth: bool = False
    T_world_camera_recorded: Optional[np.ndarray] = None
    tracker_ids: Optional[tuple] = None


def frame_record_line(position: int, frame, result, tracker_ids=None) -> str:
    """The ``frames.jsonl`` line (no newline) for a source frame and its :class:`FrameResult`.

    ``tracker_ids`` are the ids of the trackables the camera tracker itself reported (the rest
    came from later stages: planes, recognition); None when unknown."""
    cam = result.camera
    d = {
        "i": int(position),
        "index": int(frame.index),
        "timestamp_s": float(frame.timestamp_s),
        "camera": {"T_world_camera": cam.T_world_camera.tolist(), "tracking_state": cam.tracking_state.value,
                   "reason": cam.reason},
        "trackables": [encode_typed(t) for t in result.trackables],
        "changes": {k: list(getattr(result.changes, k)) for k in ("added", "updated", "removed")},
        "anchors": [{"id": a.id, "T_world_anchor": a.T_world_anchor.tolist(), "trackable_id": a.trackable_id,
                     "state": a.state.value} for a in result.anchors],
        "depth": frame.depth_m is not None,
        "T_world_camera_recorded": (None if frame.T_world_camera_recorded is None
                                    else frame.T_world_camera_recorded.tolist()),
        "tracker_ids": None if tracker_ids is None else list(tracker_ids),
    }
    return json.dumps(d)


def parse_frame_record(line: str, where: str = "frames.jsonl") -> FrameRecord:
    """Decode one ``frames.jsonl`` line; ``where`` (``file:line``) names it in errors."""
    try:
        d = json.loads(line)
        cam = d["camera"]
        ch = d.get("changes", {})
        rec = d.get("T_world_camera_recorded")
        return FrameRecord(
            position=int(d["i"]), index=int(d["index"]), timestamp_s=float(d["timestamp_s"]),
            camera=CameraState(_matrix(cam["T_world_camera"]), cam["tracking_state"], cam.get("reason", "")),
            trackables=tuple(decode_typed(t) for t in d.get("trackables", ())),
            changes=TrackableChanges(tuple(ch.get("added", ())), tuple(ch.get("updated", ())),
                                     tuple(ch.get("removed", ()))),
            anchors=tuple(Anchor(a["id"], _matrix(a["T_world_anchor"]), a.get("trackable_id"), a.get("state", "TRACKING"))
                          for a in d.get("anchors", ())),
            has_depth=bool(d.get("depth", False)),
            T_world_camera_recorded=None if rec is None else _matrix(rec),
            tracker_ids=None if d.get("tracker_ids") is None else tuple(d["tracker_ids"]),
        )
    except RecordingError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise RecordingError(f"{where}: malformed frame record ({type(e).__name__}: {e}); the recording is "
                             f"truncated or corrupt - re-record it") from None


def header_dict(*, frames: int, width: int, height: int, fps: float, image: str, depth: bool, source: str = "",
                scene: Optional[str] = None, interrupted: bool = False, **extra) -> dict:
    """The ``recording.json`` mapping."""
    d = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "frames": int(frames), "width": int(width),
         "height": int(height), "fps": float(fps), "image": image, "depth": bool(depth), "source": source,
         "scene": scene, "interrupted": bool(interrupted)}
    d.update(extra)
    return d
