"""Video played as a texture on a quad: "on image target `poster` play `video.mp4`".

:class:`VideoTexture` decodes a video file (PyAV) one frame at a time, looping by default.
:class:`VideoNode` is a :class:`SceneNode` whose single quad mesh shows the current frame.
:meth:`arkit.Session.step` calls :func:`advance_video_textures` once per session frame, before
the scene is resolved.

Timing: the video advances by exactly **one video frame per session frame** (the first session
frame shows video frame 0), whatever the video's or the camera's frame rate. This keeps playback
deterministic and reproducible on recorded sources that are processed slower or faster than real
time; a 30 fps video on a 30 fps camera plays at its natural speed.

Sizing: ``size_m=(w, h)`` when given; otherwise, when the node's anchor follows a trackable with
a physical size (an image target's ``width_m`` / ``height_m``), that size, so the video covers
the target exactly; otherwise 0.3 m wide with the video's aspect ratio. The quad lies in the
node's X-Z plane facing +Y with the video's top edge towards -Z (:func:`quad_mesh`), which is the
image-target frame's convention, so a video anchored to ``image:<name>`` is upright on the poster.

GL renderer caches: every frame's mesh is a new :class:`MeshData` carrying the same ``key``
(:func:`dataclasses.replace`), so :class:`arkit.render.gl_renderer.GLRenderer` replaces its GPU
copy for that key instead of adding one: its cache holds one entry per video node.

>>> from arkit.scene.video_texture import VideoTexture, VideoNode   # doctest: +SKIP
>>> scene.add(VideoNode("clip", VideoTexture("video.mp4")), on="image:poster")   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np

from arkit.core.errors import InputFileError, SourceError
from arkit.scene.graph import Scene, SceneNode

log = logging.getLogger(__name__)

DEFAULT_WIDTH_M = 0.3  # quad width when neither size_m nor the anchor's trackable gives a size


class VideoTexture:
    """Decode a video file frame by frame, for use as a texture.

    Parameters
    ----------
    path : str or Path
        A video file FFmpeg can read.
    loop : bool
        Start again from the first frame after the last one (default). When False the last
        frame stays on screen.
    max_side_px : int
        Frames larger than this on their longer side are downscaled (area interpolation),
        bounding texture upload cost and staying within GL texture limits.

    Attributes
    ----------
    size_px : (int, int)
        ``(width, height)`` of the texture frames.
    frame_index : int
        Index in the video of the current frame (-1 before the first :meth:`advance`).
    loops : int
        How many times playback wrapped around.

    Raises
    ------
    InputFileError
        ``path`` does not exist or is not a file.
    SourceError
        The file has no decodable video frame.
    """

    def __init__(self, path: Union[str, Path], *, loop: bool = True, max_side_px: int = 1024):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(f"video file {self.path} does not exist or is not a file; check the path")
        if int(max_side_px) < 1:
            raise ValueError(f"max_side_px must be positive, got {max_side_px!r}")
        self.loop = bool(loop)
        self.max_side_px = int(max_side_px)
        self.frame_index = -1
        self.loops = 0
        self._container = None
        self._frames = None
        self._current: Optional[np.ndarray] = None
        self._ended = False
        first = self._decode_next()  # validates the file and fixes the size
        if first is None:
            self.close()
            raise SourceError(f"{self.path}: no video frame could be decoded; is it a complete video file?")
        self._pending = first
        self.size_px = (first.shape[1], first.shape[0])

    @property
    def aspect(self) -> float:
        """Height / width of the frames."""
        return self.size_px[1] / self.size_px[0]

    @property
    def current(self) -> Optional[np.ndarray]:
        """(H, W, 3) uint8 read-only RGB: the frame shown now (None before :meth:`advance`)."""
        return self._current

    def advance(self) -> np.ndarray:
        """Move to the next frame (wrapping around when looping) and return it.

        Returns
        -------
        (H, W, 3) uint8
            Read-only RGB frame, row 0 = top.
        """
        if self._pending is not None:
            img, self._pending = self._pending, None
        elif self._ended:
            return self._current
        else:
            img = self._decode_next()
            if img is None:  # end of the video
                self._close_container()
                if not self.loop:
                    self._ended = True
                    return self._current
                self.loops += 1
                self.frame_index = -1
                img = self._decode_next()
                if img is None:
                    raise SourceError(f"{self.path}: the video could not be decoded again when looping")
        self.frame_index += 1
        self._current = img
        return img

    def close(self) -> None:
        """Release the decoder (idempotent; a later :meth:`advance` reopens the file)."""
        self._close_container()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):  # pragma: no cover - shutdown order varies
        try:
            self._close_container()
        except Exception:
            pass

    # -- internals ----------------------------------------------------------------------------
    def _close_container(self) -> None:
        self._frames = None
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - closing after an error
                pass
            self._container = None

    def _decode_next(self) -> Optional[np.ndarray]:
        """The next frame as (H, W, 3) uint8 read-only, or None at the end of the stream."""
        import av

        from arkit.io.video_source import frame_to_rgb

        if self._frames is None:
            try:
                self._container = av.open(str(self.path), mode="r")
            except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
                raise SourceError(f"{self.path} is not a readable video file ({e.__class__.__name__}: {e})") from None
            if not self._container.streams.video:
                self._close_container()
                raise SourceError(f"{self.path} has no video stream")
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            self._frames = self._container.decode(stream)
        try:
            vf = next(self._frames)
        except StopIteration:
            return None
        except av.error.FFmpegError as e:
            log.warning("%s: decoding stopped early (%s); treating it as the end of the video", self.path, e)
            return None
        img = frame_to_rgb(vf)
        h, w = img.shape[:2]
        if max(h, w) > self.max_side_px:
            import cv2

            s = self.max_side_px / max(h, w)
            img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        img = np.ascontiguousarray(img)
        img.setflags(write=False)
        return img


class VideoNode(SceneNode):
    """A scene node showing a :class:`VideoTexture` on a quad (unlit, double-sided).

    Parameters
    ----------
    name : str
    video : VideoTexture
    T_parent_node : (4, 4), optional
        Pose in the anchor's frame.
    size_m : (float, float), optional
        Quad width and height in metres. Default: the anchor trackable's ``width_m`` /
        ``height_m`` when it has them, else :data:`DEFAULT_WIDTH_M` wide with the video's aspect.
    opacity : float

    Notes
    -----
    ``meshes`` is empty until the first :meth:`advance`; afterwards it holds one quad mesh whose
    texture is the current frame and whose ``key`` never changes.
    """

    def __init__(self, name: str, video: VideoTexture, T_parent_node=None, *, size_m=None,
                 opacity: float = 1.0):
        super().__init__(name, np.eye(4) if T_parent_node is None else T_parent_node, [], opacity=opacity)
        if size_m is not None:
            size_m = tuple(float(x) for x in size_m)
            if len(size_m) != 2 or not all(np.isfinite(x) and x > 0 for x in size_m):
                raise ValueError(f"size_m must be two positive numbers (width, height in metres), got {size_m!r}")
        self.video = video
        self.size_m = size_m
        self._quad = None  # quad of the current size (its texture is a placeholder)
        self._quad_size = None
        self._key = None

    def quad_size_m(self, trackable=None) -> tuple:
        """``(width, height)`` in metres the quad gets with this anchor trackable (or None)."""
        if self.size_m is not None:
            return self.size_m
        w = float(getattr(trackable, "width_m", 0.0) or 0.0)
        h = float(getattr(trackable, "height_m", 0.0) or 0.0)
        if w > 0 and h > 0:
            return (w, h)
        if w > 0:
            return (w, w * self.video.aspect)
        return (DEFAULT_WIDTH_M, DEFAULT_WIDTH_M * self.video.aspect)

    def advance(self, trackable=None) -> None:
        """Show the next video frame, sized for ``trackable`` (the anchor's, if any)."""
        from arkit.render.meshes import quad_mesh

        frame = self.video.advance()
        size = self.quad_size_m(trackable)
        if self._quad is None or size != self._quad_size:
            quad = quad_mesh(size[0], size[1], texture=np.zeros((1, 1, 3), np.uint8), unlit=True)
            if self._key is None:
                self._key = quad.key
            self._quad = dataclasses.replace(quad, key=self._key)
            self._quad_size = size
        # same key, new texture: the GL renderer swaps its cached copy instead of adding one
        self.meshes = [dataclasses.replace(self._quad, texture=frame)]

    def close(self) -> None:
        self.video.close()


def _video_nodes(node: SceneNode):
    if isinstance(node, VideoNode):
        yield node
    for c in node.children:
        yield from _video_nodes(c)


def advance_video_textures(scene: Scene, trackables: Iterable = ()) -> int:
    """Advance every :class:`VideoNode` of ``scene`` by one frame (called once per session frame).

    Each node is sized for the first trackable its anchor follows (by id or kind), if any.

    Returns
    -------
    int
        Number of video nodes advanced.
    """
    n = 0
    trackables = None if trackables is None else tuple(trackables)
    for binding, root in scene.bindings():
        nodes = list(_video_nodes(root))
        if not nodes:
            continue
        trackable = None
        if binding.trackable_id is not None or binding.kind is not None:
            trackable = next((t for t in trackables or () if
                              (binding.trackable_id is None or t.id == binding.trackable_id) and
                              (binding.kind is None or t.kind == binding.kind)), None)
        for node in nodes:
            # only the root sits on the anchor's surface; children keep size_m or the default
            node.advance(trackable if node is root else None)
            n += 1
    return n
