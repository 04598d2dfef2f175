"""The per-frame loop: tracker -> scene graph -> renderer -> composited frame.

>>> import arkit
>>> session = arkit.Session.from_scene("samples/marker_cube/scene.yaml")   # doctest: +SKIP
>>> for result in session.run(arkit.open_source("capture.mp4")):          # doctest: +SKIP
...     result.camera.T_world_camera, result.image

``Session`` holds the only mutable state of the pipeline (the tracker's and managers' state);
each :meth:`Session.step` returns a frozen :class:`arkit.core.FrameResult`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from arkit.core.frame import Frame
from arkit.core.managers import ManagerOutput, TrackableManager, merge_changes
from arkit.core.results import FrameResult
from arkit.core.trackables import CameraState, TrackingState
from arkit.scene.graph import Scene
from arkit.tracking.base import Tracker, TrackerOutput

log = logging.getLogger(__name__)


class DepthCadence(TrackableManager):
    """Feed depth to a manager on every ``every``-th frame only, optionally on a worker thread.

    Plane extraction from depth costs more than tracking; ARKit and ARCore also refresh planes
    at a lower rate than the camera pose. Planes live in world coordinates, so between updates
    they stay where they are; the frames in between still reach the manager without depth, so
    it pauses and resumes its planes with the camera state as before. The cadence counts the
    frames this stage sees (the 1st, ``every + 1``-th, ... frame carry depth).

    With ``background=True`` the manager runs on one worker thread and each frame returns the
    manager's output for the frame ``every`` frames earlier (nothing for the first ``every``
    frames): a fixed latency, so results do not depend on timing, while the extraction overlaps
    with the tracking and rendering of the next frames. Only for stages whose output is in world
    coordinates (planes); image-space outputs (occluder masks) would be late. An error in the
    worker is raised by the next :meth:`update` in the session's thread, naming the frame.

    Scene files: ``planes: {enabled: true, every: 3, background: true}``.

    Parameters
    ----------
    manager : TrackableManager
        A stage that updates from ``frame.depth_m`` and treats frames without depth as "no new
        observation" (as :class:`arkit.planes.stage.PlaneStage`).
    every : int
        1 = every frame.
    background : bool

    Attributes
    ----------
    worker_cpu_s : float
        CPU seconds the worker thread spent in the manager (``background=True``; 0 otherwise).
    """

    def __init__(self, manager: TrackableManager, every: int, *, background: bool = False):
        from collections import deque

        self.manager = manager
        self.every = max(1, int(every))
        self.background = bool(background)
        self.name = manager.name
        self._count = 0
        self._pool = None
        self._pending = deque()
        self._empty = ManagerOutput()
        self.worker_cpu_s = 0.0

    def _worker_update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        t0 = time.thread_time()
        try:
            return self.manager.update(frame, camera)
        finally:
            self.worker_cpu_s += time.thread_time() - t0   # only the one worker thread writes it

    def update(self, frame: Frame, camera: CameraState) -> ManagerOutput:
        from dataclasses import replace

        due = self._count % self.every == 0
        self._count += 1
        if not due and frame.depth_m is not None:
            frame = replace(frame, depth_m=None)
        if not self.background:
            return self.manager.update(frame, camera)
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"arkit-{self.name}")
        self._pending.append((frame.index, self._pool.submit(self._worker_update, frame, camera)))
        if len(self._pending) <= self.every:
            return self._empty
        index, future = self._pending.popleft()
        try:
            return future.result()
        except Exception as e:
            from arkit.core.errors import ArkitError

            raise ArkitError(f"the {self.name} stage failed on frame {index} in its worker thread: "
                             f"{type(e).__name__}: {e}") from e

    def _drain(self) -> None:
        while self._pending:
            _, future = self._pending.popleft()
            future.cancel() or future.exception()

    def reset(self) -> None:
        self._drain()
        self._count = 0
        self.manager.reset()

    def close(self) -> None:
        self._drain()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.manager.close()


class Session:
    """Runs the AR pipeline on frames.

    Parameters
    ----------
    tracker : Tracker, optional
        Camera tracker (markers, visual, recorded poses). ``None``: the camera stays at the
        world origin, NOT_INITIALIZED.
    managers : sequence of TrackableManager
        Stages run after the tracker (planes, image targets, objects, faces...); their
        trackables are merged into the result and anchors can follow them.
    scene : Scene, optional
        Content to draw. ``None``: an empty scene.
    render : bool
        Draw overlays and composite them over the camera image (``FrameResult.image``).
    renderer_backend : {"auto", "gl", "software"}
    samples : int
        Multisampling for the GL renderer.
    occlusion : bool
        Hide overlays behind real geometry when frames carry depth.
    debug_planes : bool
        Draw the tracked planes (translucent polygons with labels) over the composited image
        (:func:`arkit.render.debug_planes.draw_planes`).
    """

    def __init__(self, tracker: Optional[Tracker] = None, scene: Optional[Scene] = None, *,
                 managers: Sequence[TrackableManager] = (), render: bool = True, renderer_backend: str = "auto", samples: int = 4,
                 occlusion: bool = True, ambient: float = 0.45, debug_planes: bool = False):
        self.tracker = tracker
        self.managers = list(managers)
        self.scene = scene if scene is not None else Scene()
        self.render_enabled = render
        self.renderer_backend = renderer_backend
        self.samples = samples
        self.occlusion = occlusion
        self.ambient = ambient
        self.debug_planes = debug_planes
        from arkit.scene.placement import Placement

        self.placement = Placement()
        self._renderer = None
        self._renderer_size = None
        self._last_camera = CameraState(np.eye(4), TrackingState.NOT_INITIALIZED, "no frame yet")
        self._last_result = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_scene(cls, scene_file: Union[str, Path, "SceneFile"], **overrides) -> "Session":  # noqa: F821
        """A session configured by a scene file (tracker, render options and content)."""
        from arkit.scene.scene_file import SceneFile, load_scene
        from arkit.tracking.factory import build_tracker

        sf = scene_file if isinstance(scene_file, SceneFile) else load_scene(scene_file)
        r = sf.render
        kwargs = dict(render=r.get("enabled", True), renderer_backend=r.get("backend", "auto"),
                      samples=r.get("samples", 4), occlusion=r.get("occlusion", True), ambient=r.get("ambient", 0.45),
                      debug_planes=r.get("debug_planes", False))
        kwargs.update(overrides)
        managers = []
        if sf.planes.get("enabled", False):
            from arkit.planes.stage import PlaneStage

            every = sf.planes.get("every", 1)
            if isinstance(every, bool) or not isinstance(every, int) or every < 1:
                from arkit.core.errors import SceneFileError

                raise SceneFileError(sf.path, f"must be a whole number >= 1 (depth planes are extracted on "
                                              f"every n-th frame), got {every!r}", key="planes.every")
            stage, background = PlaneStage(), sf.planes.get("background", False)
            managers.append(stage if every == 1 and not background else DepthCadence(stage, every, background=background))
        if sf.recognition:
            from arkit.recognition.managers import build_recognition_managers

            managers += build_recognition_managers(sf.recognition)
        kwargs.setdefault("managers", managers)
        session = cls(build_tracker(sf.tracking), sf.scene, **kwargs)
        session.scene_file = sf
        return session

    # -- the loop ------------------------------------------------------------------------------
    @property
    def renderer(self):
        """The renderer (created on the first rendered frame)."""
        return self._renderer

    def _ensure_renderer(self, width: int, height: int):
        if self._renderer is None or self._renderer_size != (width, height):
            from arkit.render import create_renderer

            if self._renderer is not None:
                self._renderer.close()
            self._renderer = create_renderer(width, height, backend=self.renderer_backend, samples=self.samples)
            self._renderer_size = (width, height)
            log.info("renderer: %s %dx%d", self._renderer.backend, width, height)
        return self._renderer

    def step(self, frame: Frame) -> FrameResult:
        """Process one frame and return its frozen result."""
        timings = {}
        t0 = time.perf_counter()
        if self.tracker is not None:
            out = self.tracker.track(frame)
        else:
            out = TrackerOutput(CameraState(np.eye(4), TrackingState.NOT_INITIALIZED, "no tracker configured"))
        t1 = time.perf_counter()
        timings["track"] = (t1 - t0) * 1e3
        camera = out.camera
        self._last_camera = camera
        trackables = list(out.trackables)
        changes = [out.changes]
        occluder = None
        for manager in self.managers:
            tm = time.perf_counter()
            mo = manager.update(frame, camera)
            trackables.extend(mo.trackables)
            changes.append(mo.changes)
            if mo.occluder_mask is not None:
                occluder = mo.occluder_mask if occluder is None else np.maximum(occluder, mo.occluder_mask)
            timings[manager.name] = (time.perf_counter() - tm) * 1e3
        t1 = time.perf_counter()
        self.placement.update(self.scene, trackables, frame.intrinsics, camera)  # pending raycast anchors
        from arkit.scene.video_texture import advance_video_textures

        advance_video_textures(self.scene, trackables)  # one video frame per session frame
        anchors, items = self.scene.resolve(trackables)
        t2 = time.perf_counter()
        timings["scene"] = (t2 - t1) * 1e3
        image = None
        if self.render_enabled:
            image = frame.image_rgb
            # Content is drawn only where the camera pose is known; world-locked content would
            # otherwise be drawn at a meaningless pose.
            if items and camera.is_tracking:
                renderer = self._ensure_renderer(frame.width, frame.height)
                rendered = renderer.render(items, frame.intrinsics, camera.T_world_camera, ambient=self.ambient)
                t3 = time.perf_counter()
                timings["render"] = (t3 - t2) * 1e3
                from arkit.render import composite

                image = composite(frame.image_rgb, rendered,
                                  real_depth_m=frame.depth_m if self.occlusion else None,
                                  occluder_mask=occluder if self.occlusion else None)
                image.setflags(write=False)
                timings["composite"] = (time.perf_counter() - t3) * 1e3
            if self.debug_planes and camera.is_tracking:
                from arkit.render.debug_planes import draw_planes

                image = draw_planes(image, [t for t in trackables if t.kind == "plane"], frame.intrinsics,
                                    camera.T_world_camera)
                image.setflags(write=False)
        self._last_result = FrameResult(
            index=frame.index, timestamp_s=frame.timestamp_s, intrinsics=frame.intrinsics, camera=camera,
            trackables=tuple(trackables), changes=merge_changes(changes), anchors=anchors, image=image,
            timings_ms=timings,
        )
        return self._last_result

    def raycast(self, u_px: float, v_px: float, *, infinite: bool = False) -> list:
        """Hit-test a pixel of the last frame against the tracked planes, nearest first.

        Returns a list of :class:`arkit.planes.raycast.RaycastHit` (pose with +Y = plane normal);
        empty before the first tracked frame or when no plane is hit."""
        r = self._last_result
        if r is None or not r.camera.is_tracking:
            return []
        from arkit.planes.raycast import raycast_pixel

        planes = [t for t in r.of_kind("plane") if t.subsumed_by is None]
        return raycast_pixel(u_px, v_px, r.intrinsics, r.camera.T_world_camera, planes, infinite=infinite)

    def run(self, frames: Iterable[Frame]) -> Iterator[FrameResult]:
        """Process a source (or any iterable of frames) lazily, one result per frame.

        Each result carries a ``"decode"`` timing: the time spent waiting for the frame."""
        it = iter(frames)
        while True:
            t0 = time.perf_counter()
            try:
                frame = next(it)
            except StopIteration:
                return
            decode_ms = (time.perf_counter() - t0) * 1e3
            result = self.step(frame)
            result.timings_ms["decode"] = decode_ms
            yield result

    def close(self) -> None:
        for manager in self.managers:
            manager.close()
        for root in self.scene.roots():
            for node, _ in root.walk(np.eye(4)):
                if hasattr(node, "close"):
                    node.close()  # e.g. video textures release their decoders
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
