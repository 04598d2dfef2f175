"""Reader for nerfstudio / instant-ngp ``transforms.json`` captures.

``transforms.json`` holds shared intrinsics (``fl_x, fl_y, cx, cy, w, h`` and for
``camera_model`` ``OPENCV`` the distortion ``k1, k2, p1, p2[, k3]``; for ``OPENCV_FISHEYE``
``k1..k4``) and a list ``frames`` of ``{"file_path", "transform_matrix"[, "depth_file_path"]}``.
Per-frame intrinsics override the shared ones. ``transform_matrix`` is camera-to-world with
OpenGL camera axes (x right, y up, z backwards); it is converted to arkit's OpenCV axes with
:func:`arkit.core.pose.opengl_to_opencv_camera`. Frames are ordered by file name (as nerfstudio
does); there are no timestamps, so frame ``i`` gets ``i / fps``. Depth images (uint16) are
converted with ``depth_unit_scale_factor`` (default 0.001: millimetres).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from arkit.core.camera import FISHEYE, PINHOLE, Intrinsics
from arkit.core.errors import InputFileError, IntrinsicsError, SourceError
from arkit.core.frame import Frame
from arkit.core.pose import as_transform, opengl_to_opencv_camera
from arkit.io.image_folder_source import natural_key, read_image_rgb
from arkit.io.intrinsics_files import resolve_intrinsics
from arkit.io.source_base import FrameSource

log = logging.getLogger(__name__)


def _transforms_path(path) -> Optional[Path]:
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".json":
        try:
            with open(p, "rb") as fh:
                head = fh.read(65536)
        except OSError:
            return None
        return p if b'"frames"' in head or b'"transform_matrix"' in head else None
    if p.is_dir() and (p / "transforms.json").is_file():
        return p / "transforms.json"
    return None


def is_nerfstudio_capture(path) -> bool:
    """True for a ``transforms.json`` file (with ``frames``) or a folder holding one."""
    return _transforms_path(path) is not None


def intrinsics_from_transforms(d: dict, source: str) -> Intrinsics:
    """Intrinsics from the nerfstudio keys of ``d`` (the file's top level or one frame)."""
    try:
        w, h = int(d["w"]), int(d["h"])
        fx = float(d["fl_x"])
        fy = float(d.get("fl_y", fx))
        cx = float(d.get("cx", w / 2.0))
        cy = float(d.get("cy", h / 2.0))
    except KeyError as e:
        raise IntrinsicsError(f"{source}: missing the intrinsics field {e.args[0]!r} (need fl_x, w, h)") from None
    except (TypeError, ValueError) as e:
        raise IntrinsicsError(f"{source}: intrinsics fields must be numbers ({e})") from None
    model_name = str(d.get("camera_model", "OPENCV")).upper()
    if model_name == "OPENCV_FISHEYE":
        dist = tuple(float(d.get(k, 0.0)) for k in ("k1", "k2", "k3", "k4"))
        model = FISHEYE
    elif model_name in ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        dist = tuple(float(d.get(k, 0.0)) for k in ("k1", "k2", "p1", "p2"))
        if float(d.get("k3", 0.0)):
            dist = dist + (float(d["k3"]),)
        model = PINHOLE
    else:
        raise IntrinsicsError(f"{source}: unsupported camera_model {model_name!r} (OPENCV, OPENCV_FISHEYE, PINHOLE)")
    if not any(dist):
        dist = ()
    try:
        return Intrinsics(w, h, fx, fy, cx, cy, dist, model)
    except IntrinsicsError as e:
        raise IntrinsicsError(f"{source}: {e}") from None


class NerfstudioSource(FrameSource):
    """Frames and camera poses of a nerfstudio ``transforms.json`` capture.

    Parameters
    ----------
    path : str or Path
        ``transforms.json`` or the folder holding it (image paths are relative to it).
    intrinsics : Intrinsics or str or Path, optional
        Overrides the file's intrinsics.
    fps : float
        Timestamps are ``index / fps`` (the format stores none).
    load_depth : bool
        Read ``depth_file_path`` images when the frames have them.
    max_frames : int, optional
        Stop after this many frames.
    """

    def __init__(self, path, intrinsics=None, *, fps: float = 30.0, load_depth: bool = True,
                 max_frames: Optional[int] = None):
        tp = _transforms_path(path)
        if tp is None:
            if not Path(path).exists():
                raise InputFileError(f"nerfstudio capture {path} does not exist")
            raise SourceError(f"{path} is not a nerfstudio capture (no transforms.json with 'frames')")
        self.transforms_path = tp
        self.folder = tp.parent
        self.name = str(tp)
        self._fps = float(fps)
        self.max_frames = max_frames
        self.load_depth = load_depth
        self.skipped_frames = 0
        try:
            meta = json.loads(tp.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputFileError(f"{tp} is not valid JSON: {e}") from None
        frames = meta.get("frames") if isinstance(meta, dict) else None
        if not frames:
            raise SourceError(f"{tp} has no 'frames'")
        for i, fr in enumerate(frames):
            if not isinstance(fr, dict) or "file_path" not in fr or "transform_matrix" not in fr:
                raise InputFileError(f"{tp}: frames[{i}] needs 'file_path' and 'transform_matrix'")
        self._frames = sorted(frames, key=lambda fr: natural_key(fr["file_path"]))
        self.depth_scale_m = float(meta.get("depth_unit_scale_factor", 1e-3))
        if intrinsics is not None:
            first = self._frames[0]
            K = intrinsics_from_transforms({**meta, **first}, str(tp)) if "w" in {**meta, **first} else None
            size = K.size if K is not None else self._image_size(first)
            self._intrinsics = resolve_intrinsics(intrinsics, *size, what=f"images of {tp}")
            self._per_frame = False
        else:
            self._intrinsics = intrinsics_from_transforms({**meta, **self._frames[0]}, str(tp))
            keys = ("fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k2", "k3", "k4", "p1", "p2")
            self._per_frame = any(k in fr for fr in self._frames for k in keys)
            self._meta = meta

    def _image_size(self, fr) -> tuple:
        img = read_image_rgb(self.folder / fr["file_path"])
        if img is None:
            raise SourceError(f"{self.folder / fr['file_path']} cannot be read")
        return img.shape[1], img.shape[0]

    @property
    def intrinsics(self) -> Intrinsics:
        """Intrinsics of the first frame (frames may carry their own)."""
        return self._intrinsics

    @property
    def num_frames(self) -> Optional[int]:
        n = len(self._frames)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def fps(self) -> Optional[float]:
        return self._fps

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        self.skipped_frames = 0
        index = 0
        for slot, fr in enumerate(self._frames):
            if self.max_frames is not None and index >= self.max_frames:
                break
            K = self._intrinsics
            if self._per_frame:
                try:
                    K = intrinsics_from_transforms({**self._meta, **fr}, f"{self.name} frames[{slot}]")
                except IntrinsicsError as e:
                    self._skip(str(e))
                    continue
            img_path = self.folder / fr["file_path"]
            img = read_image_rgb(img_path)
            if img is None:
                self._skip(f"image {img_path} is missing or unreadable")
                continue
            if (img.shape[1], img.shape[0]) != K.size:
                self._skip(f"image {img_path} is {img.shape[1]}x{img.shape[0]}, intrinsics say {K.width}x{K.height}")
                continue
            try:
                T_gl = as_transform(fr["transform_matrix"], f"{self.name} frames[{slot}].transform_matrix")
            except Exception as e:  # noqa: BLE001 - malformed matrix in one frame
                self._skip(str(e))
                continue
            depth = None
            if self.load_depth and fr.get("depth_file_path"):
                raw = cv2.imread(str(self.folder / fr["depth_file_path"]), cv2.IMREAD_ANYDEPTH)
                if raw is None or raw.ndim != 2:
                    self._skip(f"depth {self.folder / fr['depth_file_path']} is missing or unreadable")
                    continue
                depth = raw.astype(np.float32) * np.float32(self.depth_scale_m)
                if depth.shape != img.shape[:2]:
                    depth = cv2.resize(depth, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_NEAREST)
            img.setflags(write=False)
            yield Frame(index=index, timestamp_s=slot / self._fps, image_rgb=img, intrinsics=K, depth_m=depth,
                        T_world_camera_recorded=opengl_to_opencv_camera(T_gl),
                        meta={"source": self.name, "file": fr["file_path"]})
            index += 1


def _register() -> None:
    from arkit.io.sources import register_reader

    register_reader(is_nerfstudio_capture, NerfstudioSource, name="nerfstudio transforms.json")


_register()
