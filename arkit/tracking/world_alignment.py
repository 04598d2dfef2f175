"""Metric scale and gravity alignment for any tracker: :class:`WorldAlignedTracker`.

A monocular tracker's world is its first camera frame, in units of its first map's median
depth. ``WorldAlignedTracker(inner, scale=..., gravity=...)`` collects evidence while the inner
tracker runs, then fixes once a similarity ``p_aligned = scale * R_aligned_inner @ p_inner``
(:class:`WorldAlignment`) and from then on reports every pose in the aligned world, so
anchors placed there keep their positions. The aligned world (DESIGN.md conventions):

- metres, when a scale source is given (``"marker"``, ``"depth"``, ``"recorded"`` or
  ``"image_target"``, see :mod:`arkit.tracking.scale_sources` and
  :mod:`arkit.tracking.image_target_anchor`);
- +Y up when a gravity source is given (``"imu"``: ``frame.meta["gravity_camera"]``;
  ``"floor"``: the floor plane in the depth image; ``"recorded"``: the recorded poses' world,
  whose up axis is ``recorded_up_world``; ``"marker"`` / ``"image_target"``: the normal of a
  marker / image target lying flat; ``"map_floor"``: the floor plane in the inner tracker's
  sparse map, :mod:`arkit.tracking.map_floor`),
  with -Z the first camera's viewing direction projected on the floor and +X its right (as
  ARKit's gravity-aligned world); without gravity the inner axes are kept;
- the origin stays at the inner world's origin (the first keyframe's camera centre).

Until the alignment is fixed, frames the inner tracker tracks are reported ``LIMITED`` with
the reason ``"aligning the world: ..."`` and their pose in the unaligned inner world (place
anchors only once the state is TRACKING). If the inner tracker starts a new map (it reports
NOT_INITIALIZED after having tracked), the evidence is discarded and alignment starts again.

>>> from arkit.tracking.vslam import VisualTracker, VisualTrackerConfig        # doctest: +SKIP
>>> tracker = WorldAlignedTracker(VisualTracker(VisualTrackerConfig(mode="mono")),
...                               scale="marker", marker_size_m=0.15, gravity="marker")  # doctest: +SKIP
>>> out = tracker.track(frame); tracker.alignment                               # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np

from arkit.core.errors import ArkitError
from arkit.core.frame import Frame
from arkit.core.pose import readonly
from arkit.core.trackables import CameraState, TrackingState
from arkit.tracking.base import Tracker, TrackerOutput
from arkit.tracking import scale_sources as ss

log = logging.getLogger(__name__)

SCALE_SOURCES = ("marker", "depth", "recorded", "image_target")
GRAVITY_SOURCES = ("imu", "floor", "recorded", "marker", "image_target", "map_floor")


def up_alignment_rotation(up_inner, forward_inner=(0.0, 0.0, 1.0)) -> np.ndarray:
    """``R_aligned_inner`` (3, 3): turns ``up_inner`` into +Y, and the horizontal part of
    ``forward_inner`` into -Z (falls back to the inner -Y axis when ``forward_inner`` is nearly
    vertical).

    Parameters
    ----------
    up_inner : (3,) float
        Up direction in the inner world (any length > 0).
    forward_inner : (3,) float
        Direction that should look along -Z after alignment (default: the first camera's
        optical axis).

    >>> R = up_alignment_rotation([0.0, -1.0, 0.0])     # an upright OpenCV camera frame
    >>> np.round(R @ [0.0, -1.0, 0.0], 6).tolist(), np.round(R @ [0.0, 0.0, 1.0], 6).tolist()
    ([0.0, 1.0, 0.0], [0.0, 0.0, -1.0])
    """
    y = np.asarray(up_inner, np.float64).reshape(3)
    n = float(np.linalg.norm(y))
    if not np.isfinite(n) or n < 1e-12:
        raise ArkitError(f"up direction must be a finite non-zero 3-vector, got {up_inner!r}")
    y = y / n
    f = None
    for cand in (np.asarray(forward_inner, np.float64).reshape(3), np.array([0.0, -1.0, 0.0])):
        h = cand - (cand @ y) * y
        if np.linalg.norm(h) > 0.2 * max(np.linalg.norm(cand), 1e-12):
            f = h / np.linalg.norm(h)
            break
    if f is None:                                   # both vertical: any horizontal direction
        h = np.cross(y, [1.0, 0.0, 0.0] if abs(y[0]) < 0.9 else [0.0, 0.0, 1.0])
        f = h / np.linalg.norm(h)
    z = -f
    x = np.cross(y, z)
    return np.stack([x, y, z])


@dataclass(frozen=True)
class WorldAlignment:
    """The fixed similarity from the inner tracker's world to the aligned world.

    Parameters
    ----------
    scale : float
        Metres per inner unit (1.0 without a scale source).
    R_aligned_inner : (3, 3) float64
        Rotation (identity without a gravity source).
    scale_source, gravity_source : str or None
    frame_index : int
        Frame on which the alignment was fixed.
    num_samples : int
        Scale samples used (inliers).
    residual_m : float
        RMS residual of the scale fit (metres; NaN without a scale source).
    up_inner : (3,) float64 or None
        The up direction found in the inner world.
    """

    scale: float
    R_aligned_inner: np.ndarray
    scale_source: Optional[str] = None
    gravity_source: Optional[str] = None
    frame_index: int = -1
    num_samples: int = 0
    residual_m: float = float("nan")
    up_inner: Optional[np.ndarray] = None

    def __post_init__(self):
        object.__setattr__(self, "R_aligned_inner", readonly(np.asarray(self.R_aligned_inner, np.float64).reshape(3, 3)))
        if self.up_inner is not None:
            object.__setattr__(self, "up_inner", readonly(np.asarray(self.up_inner, np.float64).reshape(3)))

    @property
    def T_aligned_inner(self) -> np.ndarray:
        """(4, 4) float64 similarity ``[[scale * R, 0], [0, 1]]`` (points only)."""
        T = np.eye(4)
        T[:3, :3] = self.scale * self.R_aligned_inner
        return T

    def apply(self, T_inner_x) -> np.ndarray:
        """A rigid pose in the inner world (4, 4) -> the same pose in the aligned world (4, 4)."""
        Ti = np.asarray(T_inner_x, np.float64)
        T = np.eye(4)
        T[:3, :3] = self.R_aligned_inner @ Ti[:3, :3]
        T[:3, 3] = self.scale * self.R_aligned_inner @ Ti[:3, 3]
        return T

    def apply_points(self, points_inner) -> np.ndarray:
        """(N, 3) inner-world points -> (N, 3) aligned-world points."""
        P = np.asarray(points_inner, np.float64).reshape(-1, 3)
        return self.scale * P @ self.R_aligned_inner.T


def _robust_mean_direction(vectors, max_angle_deg: float = 10.0) -> np.ndarray:
    V = np.asarray(vectors, np.float64).reshape(-1, 3)
    V = V / np.linalg.norm(V, axis=1, keepdims=True)
    m = V.mean(axis=0)
    for _ in range(3):
        m = m / np.linalg.norm(m)
        keep = V @ m >= np.cos(np.radians(max_angle_deg))
        if keep.sum() < max(2, len(V) // 3):
            break
        m = V[keep].mean(axis=0)
    return m / np.linalg.norm(m)


class WorldAlignedTracker(Tracker):
    """Wraps a tracker and reports its poses in a metric, gravity-aligned world.

    Parameters
    ----------
    inner : Tracker
        Usually a monocular :class:`arkit.tracking.vslam.VisualTracker`.
    scale : {"marker", "depth", "recorded"} or None
        Where metric scale comes from (None: keep the inner units).
    gravity : {"imu", "floor", "recorded", "marker"} or None
        Where "up" comes from (None: keep the inner axes).
    marker_dictionary, marker_size_m, marker_id : str, float, int
        The marker for ``"marker"`` (size required; id default: the first one seen).
    image_targets : ImageTargetDatabase, str or Path
        Targets for ``"image_target"`` (required then): a database, a ``.npz`` from ``arkit
        targets build`` or a folder of target images with their widths.
    image_target_name : str, optional
        Which image target (default: the first one detected).
    recorded_up_world : (3,) float
        Up axis of the recorded poses' world (arkit and the synthetic generator: +Y; TUM
        motion capture: +Z).
    min_samples : int
        Scale samples (frames with an inner pose and a metric pose) needed.
    min_baseline_m : float
        Spread of the metric camera centres needed (metres, largest distance from their mean).
    min_gravity_samples : int
        Gravity observations needed.
    max_wait_frames : int, optional
        Fix the alignment with whatever is ready after this many tracked frames (a missing
        scale stays 1, a missing gravity keeps the inner axes; logged as a warning). Default:
        wait as long as it takes.
    anchor : object, optional
        A custom scale source with ``name`` and ``T_anchor_camera(frame) -> (4, 4) or None``
        (replaces the one named by ``scale``).
    map_floor_every : int
        ``"map_floor"``: tracked frames between floor searches in the inner tracker's map.
    map_floor_agree_deg : float
        ``"map_floor"``: gravity is ready when three successive floor estimates agree within
        this angle (pairwise); their mean is used.
    """

    def __init__(self, inner: Tracker, scale: Optional[str] = None, gravity: Optional[str] = None, *,
                 marker_dictionary: str = "DICT_6X6_250", marker_size_m: Optional[float] = None,
                 marker_id: Optional[int] = None, recorded_up_world=(0.0, 1.0, 0.0), min_samples: int = 15,
                 min_baseline_m: float = 0.1, min_gravity_samples: int = 10, max_wait_frames: Optional[int] = None,
                 anchor=None, image_targets=None, image_target_name: Optional[str] = None,
                 map_floor_every: int = 5, map_floor_agree_deg: float = 1.0):
        if not isinstance(inner, Tracker):
            raise ArkitError(f"WorldAlignedTracker wraps an arkit Tracker, got {type(inner).__name__}")
        if scale not in (None,) + SCALE_SOURCES:
            raise ArkitError(f"unknown scale source {scale!r}; use one of {', '.join(SCALE_SOURCES)} or None")
        if gravity not in (None,) + GRAVITY_SOURCES:
            raise ArkitError(f"unknown gravity source {gravity!r}; use one of {', '.join(GRAVITY_SOURCES)} or None")
        if "marker" in (scale, gravity) and anchor is None and not (marker_size_m and marker_size_m > 0):
            raise ArkitError("scale/gravity 'marker' needs marker_size_m (the printed square's side, metres)")
        if "image_target" in (scale, gravity) and anchor is None and image_targets is None:
            raise ArkitError("scale/gravity 'image_target' needs image_targets (a target database .npz or a folder "
                             "of target images with their widths)")
        if gravity == "map_floor":
            from arkit.tracking.map_floor import map_points_and_cameras

            map_points_and_cameras(inner)            # raises when the inner tracker has no point map
        up = np.asarray(recorded_up_world, np.float64).reshape(-1)
        if up.size != 3 or not np.linalg.norm(up) > 0:
            raise ArkitError(f"recorded_up_world must be a non-zero 3-vector, got {recorded_up_world!r}")
        self.inner = inner
        self.scale_source, self.gravity_source = scale, gravity
        self.recorded_up_world = up / np.linalg.norm(up)
        self.min_samples, self.min_baseline_m = int(max(3, min_samples)), float(min_baseline_m)
        self.min_gravity_samples = int(max(1, min_gravity_samples))
        self.max_wait_frames = max_wait_frames
        self._marker_args = (marker_dictionary, marker_size_m, marker_id)
        self._custom_anchor = anchor
        self._image_db = None
        if image_targets is not None and "image_target" in (scale, gravity):
            from arkit.tracking.image_target_anchor import load_target_database

            self._image_db = load_target_database(image_targets)
        self._image_target_name = image_target_name
        self.map_floor_every = int(max(1, map_floor_every))
        self.map_floor_agree_deg = float(map_floor_agree_deg)
        self._clear()

    # -- evidence ---------------------------------------------------------------------------------
    def _clear(self) -> None:
        self.alignment: Optional[WorldAlignment] = None
        self.anchors = {}
        names = {self.scale_source} | ({self.gravity_source} & {"recorded", "marker", "image_target"})
        for name in sorted(n for n in names if n):
            if name == self.scale_source and self._custom_anchor is not None:
                self.anchors[name] = self._custom_anchor
            elif name == "marker":
                d, size, mid = self._marker_args
                self.anchors[name] = ss.MarkerAnchor(d, size, mid)
            elif name == "image_target":
                from arkit.tracking.image_target_anchor import ImageTargetAnchor

                self.anchors[name] = ImageTargetAnchor(self._image_db, self._image_target_name)
            else:
                self.anchors[name] = ss.ANCHORS[name]()
        self.samples = {name: ss.AnchorSamples() for name in self.anchors}
        self.ups_inner = []
        self.map_floors = []                         # MapFloor estimates ("map_floor")
        self._tracked_frames = 0
        self._was_initialised = False

    def _collect(self, frame: Frame, T_ic: np.ndarray) -> None:
        for name, anchor in self.anchors.items():
            T_ac = anchor.T_anchor_camera(frame)
            if T_ac is not None:
                self.samples[name].add(frame.index, T_ic, T_ac)
        if self.gravity_source in ("imu", "floor"):
            up_cam = ss.imu_up_camera(frame) if self.gravity_source == "imu" else ss.floor_up_camera(frame)
            if up_cam is not None:
                self.ups_inner.append(T_ic[:3, :3] @ up_cam)
        if self.gravity_source == "map_floor" and self._tracked_frames % self.map_floor_every == 0:
            from arkit.tracking.map_floor import floor_up_from_map, map_points_and_cameras

            floor = floor_up_from_map(*map_points_and_cameras(self.inner))
            if floor is not None:
                self.map_floors.append(floor)

    def _scale_ready(self) -> bool:
        if self.scale_source is None:
            return True
        s = self.samples[self.scale_source]
        return len(s) >= self.min_samples and s.baseline_m() >= self.min_baseline_m

    def _gravity_ready(self) -> bool:
        if self.gravity_source is None:
            return True
        if self.gravity_source in ("imu", "floor"):
            return len(self.ups_inner) >= self.min_gravity_samples
        if self.gravity_source == "map_floor":
            ups = [f.up_world for f in self.map_floors[-3:]]
            cos = np.cos(np.radians(self.map_floor_agree_deg))
            return len(ups) == 3 and all(ups[i] @ ups[j] >= cos for i in range(3) for j in range(i))
        return len(self.samples[self.gravity_source]) >= self.min_gravity_samples

    def progress(self) -> str:
        """What the alignment still waits for (empty once fixed)."""
        if self.alignment is not None:
            return ""
        parts = []
        if self.scale_source is not None:
            s = self.samples[self.scale_source]
            parts.append(f"scale from {self.scale_source}: {len(s)}/{self.min_samples} samples, "
                         f"baseline {s.baseline_m():.2f}/{self.min_baseline_m:.2f} m")
        if self.gravity_source is not None:
            if self.gravity_source == "map_floor":
                f = self.map_floors
                parts.append("gravity from map_floor: " + (f"floor of {f[-1].num_inliers} map points, waiting for a "
                                                           "stable estimate" if f else "no floor in the map yet"))
            else:
                n = len(self.ups_inner) if self.gravity_source in ("imu", "floor") else len(self.samples[self.gravity_source])
                parts.append(f"gravity from {self.gravity_source}: {n}/{self.min_gravity_samples}")
        return "; ".join(parts)

    def estimate(self, frame_index: int = -1) -> WorldAlignment:
        """The alignment from the evidence so far (missing parts: scale 1 / inner axes).

        Raises
        ------
        ArkitError
            The scale evidence is degenerate or inconsistent.
        """
        scale, n, rms = 1.0, 0, float("nan")
        R_cache = {}
        if self.scale_source is not None and self._scale_ready():
            smp = self.samples[self.scale_source]
            R_ai = ss.anchor_rotation(smp)
            fit = ss.fit_similarity([T[:3, 3] for T in smp.T_inner_camera], [T[:3, 3] for T in smp.T_anchor_camera],
                                    R_anchor_inner=R_ai)
            R_cache[self.scale_source] = ss.anchor_rotation(smp, fit.inliers)
            scale, n, rms = fit.scale, int(fit.inliers.sum()), fit.rms_m
        up = None
        if self.gravity_source is not None and self._gravity_ready():
            if self.gravity_source in ("imu", "floor"):
                up = _robust_mean_direction(self.ups_inner)
            elif self.gravity_source == "map_floor":
                up = _robust_mean_direction([f.up_world for f in self.map_floors[-3:]])
            else:
                smp = self.samples[self.gravity_source]
                R_ai = R_cache.get(self.gravity_source)
                R_ai = ss.anchor_rotation(smp) if R_ai is None else R_ai
                up_anchor = self.recorded_up_world if self.gravity_source == "recorded" else np.array([0.0, 1.0, 0.0])
                up = R_ai.T @ up_anchor
        R = np.eye(3) if up is None else up_alignment_rotation(up)
        return WorldAlignment(float(scale), R, self.scale_source if n else None,
                              self.gravity_source if up is not None else None, int(frame_index), n, rms, up)

    # -- Tracker ------------------------------------------------------------------------------------
    def track(self, frame: Frame) -> TrackerOutput:
        """Track with the inner tracker; report the pose in the aligned world once it is fixed."""
        out = self.inner.track(frame)
        cam = out.camera
        if cam.tracking_state == TrackingState.NOT_INITIALIZED and self._was_initialised:
            log.warning("frame %d: the inner tracker started a new map; world alignment starts again", frame.index)
            self._clear()
        if cam.tracking_state != TrackingState.NOT_INITIALIZED:
            self._was_initialised = True
        if self.alignment is None and cam.tracking_state == TrackingState.TRACKING:
            self._tracked_frames += 1
            self._collect(frame, np.asarray(cam.T_world_camera, np.float64))
            timed_out = self.max_wait_frames is not None and self._tracked_frames >= self.max_wait_frames
            if (self._scale_ready() and self._gravity_ready()) or timed_out:
                try:
                    self.alignment = self.estimate(frame.index)
                except ArkitError as e:
                    log.warning("frame %d: world alignment failed (%s); collecting more evidence", frame.index, e)
                else:
                    if timed_out and not (self._scale_ready() and self._gravity_ready()):
                        log.warning("frame %d: world alignment fixed after %d frames without full evidence (%s)",
                                    frame.index, self._tracked_frames, self.progress() or "none")
                    a = self.alignment
                    log.info("world aligned at frame %d: scale %.4f m/unit (%s, %d samples, rms %.4f m), gravity %s",
                             frame.index, a.scale, a.scale_source, a.num_samples, a.residual_m, a.gravity_source)
        if self.alignment is None:
            if cam.is_tracking:
                why = f"aligning the world: {self.progress()}"
                cam = CameraState(cam.T_world_camera, TrackingState.LIMITED, f"{cam.reason}; {why}" if cam.reason else why)
            return TrackerOutput(cam, out.trackables, out.changes)
        a = self.alignment
        cam = CameraState(a.apply(cam.T_world_camera), cam.tracking_state, cam.reason)
        trackables = tuple(dataclasses.replace(t, T_world_local=a.apply(t.T_world_local)) for t in out.trackables)
        return TrackerOutput(cam, trackables, out.changes)

    def reset(self) -> None:
        """Reset the inner tracker and forget the alignment."""
        self.inner.reset()
        self._clear()

    def close(self) -> None:
        """Close the inner tracker (background threads), when it has ``close``."""
        if hasattr(self.inner, "close"):
            self.inner.close()

    def wait_for_mapping(self) -> None:
        """Wait for the inner tracker's background mapping, when it has one."""
        if hasattr(self.inner, "wait_for_mapping"):
            self.inner.wait_for_mapping()
