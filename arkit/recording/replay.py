"""Replay a recording: its frames as a :class:`FrameSource`, its results as a :class:`Tracker`.

:class:`ReplayTracker` returns the recorded camera state *and* trackables exactly (same
float64 bits, same ids, same classes), so the scene graph and renderer run on recorded results
without recomputing tracking. A different scene can be drawn onto an old recording::

    >>> import arkit
    >>> from arkit.recording import open_recording
    >>> source, tracker = open_recording("out/rec")                          # doctest: +SKIP
    >>> session = arkit.Session.from_scene("samples/board_model/scene.yaml")  # doctest: +SKIP
    >>> session.tracker = tracker                                              # doctest: +SKIP
    >>> for result in session.run(source): ...                                 # doctest: +SKIP

Everything streams: frames are decoded one at a time and each frame's record is read from
``frames.jsonl`` by its byte offset, so memory does not grow with the recording's length.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from arkit.core.frame import Frame
from arkit.core.trackables import CameraState, TrackableChanges, TrackingState
from arkit.io.source_base import FrameSource
from arkit.recording import depth_codec
from arkit.recording import format as fmt
from arkit.tracking.base import Tracker, TrackerOutput

log = logging.getLogger(__name__)

NOT_RECORDED_REASON = "frame is not in the recording"


class FrameIndex:
    """Byte offset, source index and timestamp of every line of ``frames.jsonl``.

    Reading it checks the whole file once (a truncated or corrupt line raises
    :class:`RecordingError` naming ``file:line``) and keeps only small arrays.
    """

    def __init__(self, path, expected_frames: Optional[int] = None):
        self.path = Path(path)
        offsets, indices, times = [], [], []
        try:
            with open(self.path, "rb") as f:
                pos = 0
                for n, line in enumerate(f, start=1):
                    if not line.endswith(b"\n"):
                        raise fmt.RecordingError(f"{self.path}:{n}: the last line is cut off; the recording is "
                                                 f"truncated - re-record it")
                    try:
                        d = json.loads(line)
                        indices.append(int(d["index"]))
                        times.append(float(d["timestamp_s"]))
                    except (ValueError, KeyError, TypeError) as e:
                        raise fmt.RecordingError(f"{self.path}:{n}: malformed frame record ({e}); the recording "
                                                 f"is corrupt - re-record it") from None
                    offsets.append(pos)
                    pos += len(line)
        except OSError as e:
            raise fmt.RecordingError(f"cannot read {self.path}: {e}") from None
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.timestamps_s = np.asarray(times, dtype=np.float64)
        if expected_frames is not None and len(offsets) != expected_frames:
            raise fmt.RecordingError(f"{self.path} holds {len(offsets)} frame records but recording.json says "
                                     f"{expected_frames}; the recording is truncated or corrupt")
        self._by_index = {int(i): k for k, i in enumerate(indices)}
        self._fh = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.offsets)

    def position_of(self, index: int) -> Optional[int]:
        """Recording position of the source frame ``index`` (None when absent)."""
        return self._by_index.get(int(index))

    def line(self, position: int) -> str:
        """The raw JSON text of one record."""
        with self._lock:   # the source (maybe on a prefetch thread) and the tracker share this index
            if self._fh is None:
                self._fh = open(self.path, "rb")
            self._fh.seek(int(self.offsets[position]))
            return self._fh.readline().decode("utf-8")

    def record(self, position: int) -> fmt.FrameRecord:
        """The decoded record at ``position``."""
        return fmt.parse_frame_record(self.line(position), f"{self.path}:{position + 1}")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def playback_positions(timestamps_s: np.ndarray, fps: float, speed: float) -> np.ndarray:
    """Recording positions shown at each output tick of a ``speed``-times playback at ``fps``.

    Output tick ``k`` shows the recorded frame nearest in time to ``t0 + k * speed / fps``
    (earlier frame on ties), so ``speed=2`` skips every other frame of a regular recording and
    ``speed=0.5`` shows each frame twice. ``speed=1`` is every frame once.

    Returns
    -------
    (K,) int64
    """
    n = len(timestamps_s)
    if speed == 1.0 or n == 0:
        return np.arange(n, dtype=np.int64)
    t = np.asarray(timestamps_s, dtype=np.float64)
    if np.any(np.diff(t) < 0) or t[-1] <= t[0]:   # no usable clock: use positions as time
        t = np.arange(n, dtype=np.float64) / fps
    count = int(np.floor((t[-1] - t[0]) * fps / speed + 1e-9)) + 1
    target = t[0] + np.arange(count, dtype=np.float64) * speed / fps
    k = np.clip(np.searchsorted(t, target), 1, n - 1)
    earlier = (target - t[k - 1]) <= (t[k] - target)
    return np.where(earlier, k - 1, k).astype(np.int64)


class ReplaySource(FrameSource):
    """The camera frames of a recording, with their original index, time, depth and pose.

    Parameters
    ----------
    path : str or Path
        Recording folder.
    speed : float
        Playback speed (see :func:`playback_positions`); 1 yields every frame once.
    max_frames : int, optional
        Stop after this many frames.
    load_depth : bool
        Decode the depth maps (float32 metres, 0 = invalid, millimetre resolution).
    index : FrameIndex, optional
        Shared with a :class:`ReplayTracker` (see :func:`open_recording`).

    Frames carry ``meta["recording_position"]`` (their line in ``frames.jsonl``).
    """

    def __init__(self, path, *, speed: float = 1.0, max_frames: Optional[int] = None, load_depth: bool = True,
                 index: Optional[FrameIndex] = None):
        self.info = fmt.read_info(path)
        self.path = self.info.path
        self.name = str(self.path)
        if not (speed > 0 and np.isfinite(speed)):
            raise fmt.RecordingError(f"replay speed must be a positive number, got {speed!r}")
        self.speed = float(speed)
        self.max_frames = max_frames
        self.load_depth = load_depth
        self.index = index if index is not None else FrameIndex(self.path / fmt.FRAMES_FILE, self.info.frames)
        self._positions = playback_positions(self.index.timestamps_s, self.info.fps, self.speed)
        if self.info.image == "video" and not (self.path / fmt.VIDEO_FILE).is_file():
            raise fmt.RecordingError(f"{self.path}: {fmt.VIDEO_FILE} is missing; the recording is incomplete")
        self._container = None

    @property
    def intrinsics(self):
        return self.info.intrinsics

    @property
    def num_frames(self) -> int:
        n = len(self._positions)
        return min(n, self.max_frames) if self.max_frames is not None else n

    @property
    def fps(self) -> float:
        return self.info.fps

    # -- decoding -------------------------------------------------------------------------------
    def _video_frames(self) -> Iterator[np.ndarray]:
        import av

        from arkit.io.video_source import frame_to_rgb

        path = self.path / fmt.VIDEO_FILE
        W, H = self.info.width, self.info.height
        try:
            self._container = av.open(str(path))
            for decoded, vf in enumerate(self._container.decode(video=0)):
                image = frame_to_rgb(vf)[:H, :W]
                image.setflags(write=False)   # a fresh array only this frame holds: Frame need not copy it
                yield image
        except av.error.FFmpegError as e:
            raise fmt.RecordingError(f"{path}: video is corrupt or truncated ({e}); re-record it") from None
        finally:
            self.close()

    def _png(self, folder: str, position: int, flags) -> np.ndarray:
        import cv2

        p = self.path / folder / fmt.frame_file(position)
        img = cv2.imread(str(p), flags)
        if img is None:
            raise fmt.RecordingError(f"{p} is missing or unreadable; the recording is incomplete")
        return img

    def _images(self) -> Iterator[tuple]:
        """Yield ``(position, image_rgb)`` following the playback positions."""
        import cv2

        positions = self._positions[: self.num_frames]
        if self.info.image == "png":
            for p in positions:
                yield int(p), cv2.cvtColor(self._png(fmt.RGB_DIR, int(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            return
        frames = self._video_frames()
        have, current = -1, None
        try:
            for p in positions:
                while have < p:
                    try:
                        current = next(frames)
                    except StopIteration:
                        raise fmt.RecordingError(
                            f"{self.path / fmt.VIDEO_FILE} holds only {have + 1} frames but the recording has "
                            f"{len(self.index)}; the video is truncated - re-record it") from None
                    have += 1
                yield int(p), current
        finally:
            frames.close()

    def __iter__(self) -> Iterator[Frame]:
        K = self.info.intrinsics
        for p, image in self._images():
            d = json.loads(self.index.line(p))
            depth = None
            if self.load_depth and d.get("depth"):
                enc = self.info.depth_encoding
                mm = depth_codec.read_depth_mm(self.path / fmt.DEPTH_DIR / depth_codec.depth_file(p, enc), enc,
                                               self.info.width, self.info.height)
                depth = mm.astype(np.float32)
                depth /= np.float32(fmt.DEPTH_SCALE)   # in place: the same values as mm / 1000, one array
                depth.setflags(write=False)
            rec = d.get("T_world_camera_recorded")
            yield Frame(int(d["index"]), float(d["timestamp_s"]), image, K, depth_m=depth,
                        T_world_camera_recorded=None if rec is None else np.array(rec, dtype=np.float64),
                        meta={"recording": str(self.path), "recording_position": p})

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - closing after an error
                pass
            self._container = None


class ReplayTracker(Tracker):
    """Returns the recorded camera state, trackables and changes of each frame, exactly.

    Frames from a :class:`ReplaySource` of the same recording are matched by their recording
    position; other frames by their source ``index``. A frame not in the recording gets the
    last replayed pose with state ``LOST`` (``NOT_INITIALIZED`` before any) and the reason
    ``"frame is not in the recording"``.

    Parameters
    ----------
    path : str or Path
        Recording folder.
    trackables : {"all", "tracker"}
        ``"all"``: every recorded trackable, also those later stages (planes, recognition)
        produced, so a session replays without running those stages (give it no managers);
        ``"tracker"``: only the camera tracker's own trackables, for a session that runs its
        plane/recognition stages again on the replayed frames.
    index : FrameIndex, optional
        Shared with the source (see :func:`open_recording`).
    """

    def __init__(self, path, *, trackables: str = "all", index: Optional[FrameIndex] = None):
        if trackables not in ("all", "tracker"):
            raise fmt.RecordingError(f"ReplayTracker: trackables must be 'all' or 'tracker', got {trackables!r}")
        self.trackables = trackables
        self.info = fmt.read_info(path)
        self.path = self.info.path
        self.index = index if index is not None else FrameIndex(self.path / fmt.FRAMES_FILE, self.info.frames)
        self._cache: Optional[tuple] = None   # (position, TrackerOutput)
        self._last = None

    def reset(self) -> None:
        self._cache = None
        self._last = None

    def position(self, frame: Frame) -> Optional[int]:
        p = frame.meta.get("recording_position") if frame.meta.get("recording") == str(self.path) else None
        if p is not None and 0 <= int(p) < len(self.index):
            return int(p)
        return self.index.position_of(frame.index)

    def output_at(self, position: int) -> TrackerOutput:
        """The recorded :class:`TrackerOutput` at a recording position."""
        if self._cache is not None and self._cache[0] == position:
            return self._cache[1]
        r = self.index.record(position)
        if self.trackables == "tracker" and r.tracker_ids is not None:
            keep = set(r.tracker_ids)
            ch = r.changes
            out = TrackerOutput(camera=r.camera, trackables=tuple(t for t in r.trackables if t.id in keep),
                                changes=TrackableChanges(*(tuple(i for i in getattr(ch, k) if i in keep)
                                                           for k in ("added", "updated", "removed"))))
        else:
            out = TrackerOutput(camera=r.camera, trackables=r.trackables, changes=r.changes)
        self._cache = (position, out)
        return out

    def track(self, frame: Frame) -> TrackerOutput:
        p = self.position(frame)
        if p is None:
            log.debug("frame %d: %s", frame.index, NOT_RECORDED_REASON)
            if self._last is None:
                return TrackerOutput(CameraState(np.eye(4), TrackingState.NOT_INITIALIZED, NOT_RECORDED_REASON))
            return TrackerOutput(CameraState(self._last, TrackingState.LOST, NOT_RECORDED_REASON))
        out = self.output_at(p)
        self._last = out.camera.T_world_camera
        return out

    def close(self) -> None:
        self.index.close()


def open_recording(path, *, speed: float = 1.0, max_frames: Optional[int] = None, load_depth: bool = True,
                   trackables: str = "all"):
    """Open a recording for replay (``trackables``: see :class:`ReplayTracker`).

    Returns
    -------
    source : ReplaySource
        The recorded frames.
    tracker : ReplayTracker
        The recorded camera states and trackables for those frames.
    """
    info = fmt.read_info(path)
    index = FrameIndex(info.path / fmt.FRAMES_FILE, info.frames)
    source = ReplaySource(info.path, speed=speed, max_frames=max_frames, load_depth=load_depth, index=index)
    return source, ReplayTracker(info.path, trackables=trackables, index=index)


def replay_session(path, scene_file, *, rerun_stages: bool = False, speed: float = 1.0,
                   max_frames: Optional[int] = None, **session_overrides):
    """A session drawing ``scene_file`` onto a recording, and the recording's frames.

    The scene file's tracker is replaced by a :class:`ReplayTracker`. Without ``rerun_stages``
    its plane/recognition stages are dropped too: the recorded planes and recognised targets
    are replayed, so nothing is recomputed. With ``rerun_stages`` those stages run again on the
    replayed frames and recorded poses (and only the tracker's own trackables are replayed).

    Returns
    -------
    session : arkit.Session
    source : ReplaySource
    tracker : ReplayTracker
        Close it (``tracker.close()``) when done.
    """
    from arkit.session import Session

    source, tracker = open_recording(path, speed=speed, max_frames=max_frames,
                                     trackables="tracker" if rerun_stages else "all")
    session = Session.from_scene(scene_file, **session_overrides)
    session.tracker = tracker
    if not rerun_stages:
        for m in session.managers:
            m.close()
        session.managers = []
    return session, source, tracker
