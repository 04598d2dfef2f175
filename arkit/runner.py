"""Run a session over a source and write its outputs (video, trajectory, per-frame results).

This is what ``arkit run`` does; notebooks and batch jobs call :func:`process` directly.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from arkit.core.trackables import TrackingState

log = logging.getLogger(__name__)

STAGES = ("decode", "track", "scene", "render", "composite", "encode")


@dataclass
class RunSummary:
    """What :func:`process` did.

    Attributes
    ----------
    frames : int
        Frames processed.
    seconds : float
        Wall time of the loop.
    tracked_frames : int
        Frames with TRACKING or LIMITED camera state.
    stage_ms : dict
        Mean milliseconds per frame for each stage that ran.
    outputs : dict
        Output kind -> path written.
    skipped_frames : int
        Frames the source could not read (skipped with a warning).
    interrupted : bool
        True when the run stopped early (error or Ctrl-C); outputs hold the frames done so far.
    """

    frames: int = 0
    seconds: float = 0.0
    tracked_frames: int = 0
    stage_ms: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    skipped_frames: int = 0
    interrupted: bool = False

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def tracking_coverage(self) -> float:
        return self.tracked_frames / self.frames if self.frames else 0.0


def display_available() -> bool:
    """True when a window can be opened (cv2.imshow aborts the process without a display)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


class _ResultsWriter:
    """JSON lines, one object per frame, written to a temporary file and renamed at the end."""

    def __init__(self, path: Path):
        from arkit.io.atomic import temp_path_for

        self.path = Path(path)
        self._tmp = temp_path_for(self.path)
        self._f = open(self._tmp, "w", encoding="utf-8")

    def write(self, result) -> None:
        self._f.write(json.dumps(result.to_dict()) + "\n")

    def close(self) -> Path:
        from arkit.io.atomic import commit_temp

        self._f.close()
        return commit_temp(self._tmp, self.path)


def process(session, source, *, video_path=None, trajectory_path=None, trajectory_format: str = "tum",
            results_path=None, show: bool = False, progress: bool = False,
            max_frames: Optional[int] = None, fps: Optional[float] = None,
            on_result=None) -> RunSummary:
    """Run ``session`` over ``source`` and write the requested outputs.

    Parameters
    ----------
    session : arkit.Session
    source : FrameSource or iterable of Frame
    video_path : path, optional
        Composited video (H.264 ``.mp4``).
    trajectory_path : path, optional
        Camera trajectory of tracked frames (``trajectory_format``: tum, kitti or euroc).
    results_path : path, optional
        One JSON object per frame (``FrameResult.to_dict()``), JSON lines.
    show : bool
        Show the composited frames in a window (ignored with a warning when there is no display).
    progress : bool
        Show a progress bar on stderr (frames, FPS, ETA).
    max_frames : int, optional
        Stop after this many frames.
    fps : float, optional
        Output video frame rate (default: the source's, else 30).
    on_result : callable(FrameResult), optional
        Called with every result after it is written (e.g. to collect statistics).

    Returns
    -------
    RunSummary
        If the loop stops early (error, Ctrl-C), the outputs written so far are finalised
        (valid files holding the frames done), ``interrupted`` is set, and the error re-raised.
    """
    from tqdm import tqdm

    summary = RunSummary()
    total = getattr(source, "num_frames", None)
    if max_frames is not None:
        total = min(total, max_frames) if total else max_frames
    writer = None
    if video_path is not None:
        from arkit.io.video_writer import VideoWriter

        Path(video_path).parent.mkdir(parents=True, exist_ok=True)
        writer = VideoWriter(video_path, fps or getattr(source, "fps", None) or 30.0)
    results = None
    if results_path is not None:
        Path(results_path).parent.mkdir(parents=True, exist_ok=True)
        results = _ResultsWriter(Path(results_path))
    if show and not display_available():
        log.warning("--show ignored: no display (DISPLAY/WAYLAND_DISPLAY not set)")
        show = False
    stamps, poses = [], []
    sums = {}
    bar = tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True, file=sys.stderr, mininterval=0.5)
    t_start = time.perf_counter()
    try:
        for result in session.run(source):
            timings = dict(result.timings_ms)
            if writer is not None and result.image is not None:
                t0 = time.perf_counter()
                writer.write(result.image)
                timings["encode"] = (time.perf_counter() - t0) * 1e3
            if results is not None:
                results.write(result)
            if on_result is not None:
                on_result(result)
            if result.camera.tracking_state in (TrackingState.TRACKING, TrackingState.LIMITED):
                summary.tracked_frames += 1
                stamps.append(result.timestamp_s)
                poses.append(np.array(result.camera.T_world_camera))
            for k, v in timings.items():
                sums[k] = sums.get(k, 0.0) + v
            summary.frames += 1
            if show and result.image is not None:
                import cv2

                cv2.imshow("arkit", cv2.cvtColor(result.image, cv2.COLOR_RGB2BGR))
                if cv2.waitKey(1) & 0xFF in (27, ord("q")):
                    log.info("window closed by the user")
                    break
            bar.update(1)
            if max_frames is not None and summary.frames >= max_frames:
                break
    except BaseException:
        summary.interrupted = True
        log.warning("stopped after %d frames; finalising the outputs written so far", summary.frames)
        raise
    finally:
        bar.close()
        summary.seconds = time.perf_counter() - t_start
        summary.skipped_frames = int(getattr(source, "skipped_frames", 0) or 0)
        summary.stage_ms = {k: v / max(summary.frames, 1) for k, v in sums.items()}
        if writer is not None:
            p = writer.close()
            if p is not None:
                summary.outputs["video"] = str(p)
        if results is not None:
            summary.outputs["results"] = str(results.close())
        if trajectory_path is not None:
            from arkit.io.trajectory_formats import Trajectory, write_trajectory

            Path(trajectory_path).parent.mkdir(parents=True, exist_ok=True)
            traj = Trajectory(np.asarray(stamps, dtype=np.float64),
                              np.asarray(poses).reshape(-1, 4, 4) if poses else np.zeros((0, 4, 4)))
            write_trajectory(traj, trajectory_path, trajectory_format)
            summary.outputs["trajectory"] = str(trajectory_path)
        if show:
            import cv2

            cv2.destroyAllWindows()
    return summary
