"""Record a session: camera frames, depth, intrinsics and every per-frame result.

The recording is written into a hidden ``.<name>.partial-<pid>`` folder next to ``out_dir``
and renamed to ``out_dir`` when finished (``recording.json`` is the last file written), so a
folder carrying the final name is always a complete recording. The layout is described in
:mod:`arkit.recording.format`.

>>> import arkit
>>> from arkit.recording import record
>>> session = arkit.Session.from_scene("samples/marker_cube/scene.yaml", render=False)  # doctest: +SKIP
>>> with arkit.open_source("builtin:marker_room:60") as src:                           # doctest: +SKIP
...     record(session, src, "out/rec")
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from arkit.io.atomic import AtomicOutput
from arkit.recording import depth_codec
from arkit.recording import format as fmt

log = logging.getLogger(__name__)


@dataclass
class RecordingSummary:
    """What :func:`record` wrote."""

    path: Optional[Path] = None
    frames: int = 0
    tracked_frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    outputs: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def encode_depth_mm(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) float32 metres -> (H, W) uint16 millimetres, ``round(m * 1000)``; > 65.535 m -> 0."""
    d = np.rint(np.asarray(depth_m, dtype=np.float64) * fmt.DEPTH_SCALE)
    d[(d < 0) | (d > 65535) | ~np.isfinite(d)] = 0
    return d.astype(np.uint16)


class Recorder(AtomicOutput):
    """Write frames and their results into a recording folder, one frame at a time.

    Parameters
    ----------
    out_dir : str or Path
        The recording folder to create.
    fps : float, optional
        Nominal frame rate stored in the header and used for the video (default: estimated
        from the timestamps, else 30).
    lossless : bool
        Store frames as PNG instead of H.264.
    crf : int
        H.264 quality (0 lossless ... 51); 18 is visually lossless.
    overwrite : bool
        Replace an existing recording at ``out_dir``.
    source_name, scene : str
        Stored in the header.

    Use :meth:`add` per frame, then :meth:`close` (or :meth:`abort`).
    """

    def __init__(self, out_dir, *, fps: Optional[float] = None, lossless: bool = False, crf: int = 18,
                 overwrite: bool = False, source_name: str = "", scene: Optional[str] = None):
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not overwrite:
            raise fmt.RecordingError(f"{self.out_dir} already exists; choose another --out or pass overwrite=True")
        parent = self.out_dir.parent if str(self.out_dir.parent) else Path(".")
        parent.mkdir(parents=True, exist_ok=True)
        self._tmp = parent / f".{self.out_dir.name}.partial-{os.getpid()}"
        if self._tmp.exists():
            shutil.rmtree(self._tmp)
        self._tmp.mkdir()
        self.fps = fps
        self.lossless = lossless
        self.crf = crf
        self.source_name = source_name
        self.scene = scene
        self.frames = 0
        self.has_depth = False
        self.depth_encoding = depth_codec.default_encoding()
        self._intrinsics = None
        self._t_first = self._t_last = None   # for the fps estimate when the source has none
        self._video = None
        self._lines = open(self._tmp / fmt.FRAMES_FILE, "w", encoding="utf-8")
        self._closed = False

    def _write_image(self, frame) -> None:
        import cv2

        if self.lossless:
            d = self._tmp / fmt.RGB_DIR
            if self.frames == 0:
                d.mkdir()
            ok = cv2.imwrite(str(d / fmt.frame_file(self.frames)), cv2.cvtColor(frame.image_rgb, cv2.COLOR_RGB2BGR),
                             [cv2.IMWRITE_PNG_COMPRESSION, 1])
            if not ok:
                raise fmt.RecordingError(f"writing frame {self.frames} to {d} failed (disk full?)")
            return
        if self._video is None:
            from arkit.io.video_writer import VideoWriter

            self._video = VideoWriter(self._tmp / fmt.VIDEO_FILE, self.fps or 30.0, crf=self.crf)
        self._video.write(frame.image_rgb)

    def add(self, frame, result, tracker_ids=None) -> None:
        """Store one source frame and the session's result for it.

        Parameters
        ----------
        frame : Frame
            The camera frame as the source gave it (not the composited image).
        result : FrameResult
        tracker_ids : sequence of str, optional
            Ids of the trackables the camera tracker itself reported (see :func:`record`).
        """
        if self._closed:
            raise fmt.RecordingError(f"recorder for {self.out_dir} is already closed")
        if self._intrinsics is None:
            self._intrinsics = frame.intrinsics
            (self._tmp / fmt.INTRINSICS_FILE).write_text(json.dumps(frame.intrinsics.to_dict()), encoding="utf-8")
        elif frame.intrinsics != self._intrinsics:
            raise fmt.RecordingError(f"frame {frame.index}: intrinsics changed during the recording "
                                     f"({frame.intrinsics} vs {self._intrinsics}); record each camera separately")
        if self._t_first is None:
            self._t_first = float(frame.timestamp_s)
        self._t_last = float(frame.timestamp_s)
        self._write_image(frame)
        if frame.depth_m is not None:
            d = self._tmp / fmt.DEPTH_DIR
            if not self.has_depth:
                d.mkdir(exist_ok=True)
                self.has_depth = True
            depth_codec.write_depth_mm(d / depth_codec.depth_file(self.frames, self.depth_encoding),
                                       encode_depth_mm(frame.depth_m), self.depth_encoding)
        self._lines.write(fmt.frame_record_line(self.frames, frame, result, tracker_ids) + "\n")
        self.frames += 1

    def close(self, interrupted: bool = False) -> Path:
        """Finish the files, write ``recording.json`` last and move the folder into place."""
        if self._closed:
            return self.out_dir
        self._closed = True
        self._lines.close()
        if self._video is not None:
            self._video.close()
        if self.frames == 0:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise fmt.RecordingError(f"no frames were recorded for {self.out_dir} (the source was empty)")
        K = self._intrinsics
        fps = self.fps
        if not fps:
            span = (self._t_last or 0.0) - (self._t_first or 0.0)
            fps = (self.frames - 1) / span if self.frames > 1 and span > 0 else 30.0
        header = fmt.header_dict(frames=self.frames, width=K.width, height=K.height, fps=fps,
                                 image="png" if self.lossless else "video", depth=self.has_depth,
                                 source=self.source_name, scene=self.scene, interrupted=interrupted,
                                 **({"depth_encoding": self.depth_encoding} if self.has_depth else {}),
                                 created_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        from arkit.io.atomic import atomic_write_text

        atomic_write_text(self._tmp / fmt.HEADER_FILE, json.dumps(header, indent=1))
        if self.out_dir.exists():
            shutil.rmtree(self.out_dir)
        os.replace(self._tmp, self.out_dir)
        log.info("recorded %d frames to %s", self.frames, self.out_dir)
        return self.out_dir

    def abort(self) -> None:
        """Stop and delete everything written (no recording is produced)."""
        self._closed = True
        try:
            self._lines.close()
        finally:
            if self._video is not None:
                self._video.abort()
            shutil.rmtree(self._tmp, ignore_errors=True)



class _TrackerCapture:
    """Wraps the session's tracker to see which trackables the tracker itself reported."""

    def __init__(self, inner):
        self.inner = inner
        self.last = None

    def track(self, frame):
        self.last = self.inner.track(frame)
        return self.last

    def reset(self) -> None:
        self.inner.reset()


def record(session, source, out_dir, *, lossless: bool = False, crf: int = 18, overwrite: bool = False,
           max_frames: Optional[int] = None, progress: bool = False, scene: Optional[str] = None,
           on_result: Optional[Callable] = None) -> RecordingSummary:
    """Run ``session`` over ``source`` and record frames and results into ``out_dir``.

    Parameters
    ----------
    session : arkit.Session or None
        Produces the camera state, trackables and anchors to store (``None``: frames only,
        camera NOT_INITIALIZED). Rendering is not needed; build it with ``render=False``.
        Its stages (planes, recognition) run too: their trackables are recorded with the
        tracker's, and each record lists which ids came from the tracker (``tracker_ids``).
    source : FrameSource or iterable of Frame
    out_dir : str or Path
    lossless : bool
        PNG frames instead of H.264 video.
    crf : int
        H.264 quality for the video.
    overwrite : bool
        Replace an existing recording.
    max_frames : int, optional
    progress : bool
        Progress bar on stderr.
    scene : str, optional
        Scene file path stored in the header (exports use it to place its overlays).
    on_result : callable(FrameResult), optional
        Called for every result (after it is stored).

    Returns
    -------
    RecordingSummary
        When the loop stops early (error, Ctrl-C), the frames done so far are finalised as a
        valid recording marked ``interrupted`` and the error is re-raised.
    """
    from tqdm import tqdm

    from arkit.session import Session

    session = session if session is not None else Session(render=False)
    summary = RecordingSummary()
    fps = getattr(source, "fps", None)
    total = getattr(source, "num_frames", None)
    rec = Recorder(out_dir, fps=fps, lossless=lossless, crf=crf, overwrite=overwrite,
                   source_name=str(getattr(source, "name", "") or ""), scene=scene)
    bar = tqdm(total=min(total, max_frames) if (total and max_frames) else (total or max_frames), unit="frame",
               disable=not progress, dynamic_ncols=True, file=sys.stderr)
    t0 = time.perf_counter()
    inner = session.tracker
    capture = _TrackerCapture(inner) if inner is not None else None
    session.tracker = capture
    try:
        for frame in source:
            result = session.step(frame)
            ids = () if capture is None else tuple(t.id for t in capture.last.trackables)
            rec.add(frame, result, ids)
            summary.frames += 1
            summary.tracked_frames += int(result.camera.is_tracking)
            if on_result is not None:
                on_result(result)
            bar.update(1)
            if max_frames is not None and summary.frames >= max_frames:
                break
    except BaseException:
        session.tracker = inner
        summary.interrupted = True
        bar.close()
        if rec.frames:
            log.warning("recording stopped after %d frames; finalising them as an interrupted recording", rec.frames)
            summary.path = rec.close(interrupted=True)
        else:
            rec.abort()
        raise
    session.tracker = inner
    bar.close()
    summary.path = rec.close()
    summary.seconds = time.perf_counter() - t0
    summary.outputs["recording"] = str(summary.path)
    return summary
