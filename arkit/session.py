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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence, Union

import numpy as np

from arkit.core.frame import Frame
from arkit.core.depth_cadence import DepthCadence  # noqa: F401 - re-exported: arkit.session.DepthCadence
from arkit.core.managers import TrackableManager, merge_changes
from arkit.core.results import FrameResult
from arkit.core.trackables import CameraState, TrackingState
from arkit.scene.graph import Scene
from arkit.tracking.base import Tracker, TrackerOutput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Perception:
    """What :meth:`Session.perceive` found in one frame: the input of :meth:`Session.compose`.

    Attributes
    ----------
    frame : Frame
    camera : CameraState
    trackables : tuple of Trackable
        The tracker's, then each manager's.
    changes : TrackableChanges
        Added / updated / removed, merged over the tracker and the managers.
    occluder_mask : (H, W) array or None
        Pixels real things cover (people, hands), when a manager segments them.
    timings_ms : dict
        ``"track"`` and one entry per manager.
    """

    frame: Frame
    camera: CameraState
    trackables: tuple
    changes: object
    occluder_mask: Optional[np.ndarray]
    timings_ms: dict


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
        self.perceive_cpu_s = 0.0

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_scene(cls, scene_file: Union[str, Path, "SceneFile"], **overrides) -> "Session":  # noqa: F821
        """A session configured by a scene file (tracker, render options and content).

        ``overrides`` are :class:`Session` arguments over the scene file's, and
        ``planes_background`` over its ``planes.background``."""
        from arkit.scene.scene_file import SceneFile, load_scene
        from arkit.tracking.factory import build_tracker

        sf = scene_file if isinstance(scene_file, SceneFile) else load_scene(scene_file)
        r = sf.render
        kwargs = dict(render=r.get("enabled", True), renderer_backend=r.get("backend", "auto"),
                      samples=r.get("samples", 4), occlusion=r.get("occlusion", True), ambient=r.get("ambient", 0.45),
                      debug_planes=r.get("debug_planes", False))
        planes_background = overrides.pop("planes_background", sf.planes.get("background", False))
        kwargs.update(overrides)
        managers = []
        if sf.planes.get("enabled", False):
            from arkit.planes.stage import PlaneStage

            every = sf.planes.get("every", 1)
            if isinstance(every, bool) or not isinstance(every, int) or every < 1:
                from arkit.core.errors import SceneFileError

                raise SceneFileError(sf.path, f"must be a whole number >= 1 (depth planes are extracted on "
                                              f"every n-th frame), got {every!r}", key="planes.every")
            stage, background = PlaneStage(), planes_background
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

    def perceive(self, frame: Frame) -> "Perception":
        """The first half of :meth:`step`: the tracker and the managers on ``frame``.

        Touches only the tracker's and managers' state, never the scene or the renderer, so the
        perception of the next frames can run on another thread while :meth:`compose` draws this
        one (``run(frames, pipeline=2)``)."""
        timings = {}
        t0 = time.perf_counter()
        if self.tracker is not None:
            out = self.tracker.track(frame)
        else:
            out = TrackerOutput(CameraState(np.eye(4), TrackingState.NOT_INITIALIZED, "no tracker configured"))
        timings["track"] = (time.perf_counter() - t0) * 1e3
        camera = out.camera
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
        return Perception(frame, camera, tuple(trackables), merge_changes(changes), occluder, timings)

    def compose(self, perception: "Perception") -> FrameResult:
        """The second half of :meth:`step`: place and resolve the scene's content for a
        :meth:`perceive` output, render and composite it; returns the frame's frozen result."""
        frame, camera, trackables = perception.frame, perception.camera, perception.trackables
        occluder = perception.occluder_mask
        timings = dict(perception.timings_ms)
        self._last_camera = camera
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
            trackables=trackables, changes=perception.changes, anchors=anchors, image=image,
            timings_ms=timings,
        )
        return self._last_result

    def step(self, frame: Frame) -> FrameResult:
        """Process one frame and return its frozen result (:meth:`perceive` then :meth:`compose`)."""
        return self.compose(self.perceive(frame))

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

    def run(self, frames: Iterable[Frame], *, pipeline: int = 0) -> Iterator[FrameResult]:
        """Process a source (or any iterable of frames) lazily, one result per frame.

        Parameters
        ----------
        frames : iterable of Frame
        pipeline : int
            0: :meth:`step` each frame in the calling thread. N > 0: :meth:`perceive` runs on a
            worker thread up to N frames ahead of :meth:`compose` (tracking of the next frames
            overlaps with the rendering of this one); the results are the same, in the same
            order. Do not change the tracker or managers while such a run is going (the scene
            can be changed between results, as always).

        Each result carries a ``"decode"`` timing: the time the loop waited for its input (the
        frame, or with ``pipeline`` its perception). With ``pipeline``, :attr:`perceive_cpu_s`
        adds up the worker thread's CPU seconds when the run ends."""
        ahead = None
        if pipeline > 0:
            from arkit.io.prefetch import Prefetcher

            ahead = Prefetcher((self.perceive(f) for f in frames), pipeline, name="arkit-perceive")
            it, step = iter(ahead), self.compose
        else:
            it, step = iter(frames), self.step
        try:
            while True:
                t0 = time.perf_counter()
                try:
                    item = next(it)
                except StopIteration:
                    return
                wait_ms = (time.perf_counter() - t0) * 1e3
                result = step(item)
                result.timings_ms["decode"] = wait_ms
                yield result
        finally:
            if ahead is not None:
                ahead.close()
                self.perceive_cpu_s += ahead.cpu_s

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
