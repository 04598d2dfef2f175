"""The sparse map: map points (struct-of-arrays), keyframes and save / load as ``.npz``.

Map points live in growable numpy arrays indexed by a stable integer id so that projection
search and optimisation stay vectorised; :class:`MapPoint` is a read-only view for callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from arkit.core.errors import InputFileError
from arkit.core.pose import invert

MAP_FORMAT_VERSION = 1


@dataclass(frozen=True)
class MapPoint:
    """Snapshot of one map point.

    Parameters
    ----------
    id : int
    position_world : (3,) float64
    descriptor : (32,) uint8
    n_visible, n_found : int
        How often the point was predicted in view / actually matched while tracking.
    """

    id: int
    position_world: np.ndarray
    descriptor: np.ndarray
    n_visible: int
    n_found: int


@dataclass
class KeyFrame:
    """A frame kept in the map with its features and the map point each feature observes.

    Parameters
    ----------
    id : int
    frame_index : int
    T_world_camera : (4, 4) float64
    uv : (N, 2) float64
    octave : (N,) int32
    desc : (N, 32) uint8
    depth_m : (N,) float64
        Keypoint depth (0 = none).
    point_ids : (N,) int64
        Observed map point per keypoint, -1 for none.
    """

    id: int
    frame_index: int
    T_world_camera: np.ndarray
    uv: np.ndarray
    octave: np.ndarray
    desc: np.ndarray
    depth_m: np.ndarray
    point_ids: np.ndarray = field(default=None)

    def __post_init__(self):
        if self.point_ids is None:
            self.point_ids = np.full(len(self.uv), -1, np.int64)

    @property
    def T_camera_world(self) -> np.ndarray:
        return invert(self.T_world_camera)


class Map:
    """Map points and keyframes.

    Point arrays (index = point id): ``positions (M, 3) float64``, ``descriptors (M, 32) uint8``,
    ``n_visible``, ``n_found`` (M,) int64, ``first_kf`` (M,) int64, ``alive`` (M,) bool.
    """

    def __init__(self):
        self._cap = 0
        self.n_points = 0
        self.positions = np.zeros((0, 3))
        self.descriptors = np.zeros((0, 32), np.uint8)
        self.n_visible = np.zeros(0, np.int64)
        self.n_found = np.zeros(0, np.int64)
        self.first_kf = np.zeros(0, np.int64)
        self.alive = np.zeros(0, bool)
        self.keyframes: list[KeyFrame] = []

    # -- points ---------------------------------------------------------------------------------
    def _grow(self, need: int) -> None:
        if need <= self._cap:
            return
        cap = max(need, 2 * self._cap, 1024)

        def grow(a, fill=0):
            out = np.full((cap,) + a.shape[1:], fill, a.dtype)
            out[: self.n_points] = a[: self.n_points]
            return out

        self.positions = grow(self.positions)
        self.descriptors = grow(self.descriptors)
        self.n_visible = grow(self.n_visible)
        self.n_found = grow(self.n_found)
        self.first_kf = grow(self.first_kf, -1)
        self.alive = grow(self.alive, False)
        self._cap = cap

    def add_points(self, positions_world: np.ndarray, descriptors: np.ndarray, kf_id: int) -> np.ndarray:
        """Add points (K, 3) float64 with descriptors (K, 32) uint8; returns their ids (K,) int64."""
        k = len(positions_world)
        self._grow(self.n_points + k)
        ids = np.arange(self.n_points, self.n_points + k, dtype=np.int64)
        self.positions[ids] = positions_world
        self.descriptors[ids] = descriptors
        self.n_visible[ids] = 1
        self.n_found[ids] = 1
        self.first_kf[ids] = kf_id
        self.alive[ids] = True
        self.n_points += k
        return ids

    def remove_points(self, ids: np.ndarray) -> None:
        """Mark points dead and drop them from every keyframe's observations."""
        ids = np.asarray(ids, np.int64)
        if len(ids) == 0:
            return
        self.alive[ids] = False
        dead = ~self.alive[: self.n_points]
        for kf in self.keyframes:
            obs = kf.point_ids >= 0
            bad = np.zeros_like(obs)
            bad[obs] = dead[kf.point_ids[obs]]
            kf.point_ids[bad] = -1

    @property
    def alive_ids(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: self.n_points])

    def point(self, pid: int) -> MapPoint:
        return MapPoint(int(pid), self.positions[pid].copy(), self.descriptors[pid].copy(),
                        int(self.n_visible[pid]), int(self.n_found[pid]))

    def __len__(self) -> int:
        return int(self.alive[: self.n_points].sum())

    # -- keyframes ------------------------------------------------------------------------------
    def add_keyframe(self, kf: KeyFrame) -> None:
        self.keyframes.append(kf)

    def observation_counts(self) -> np.ndarray:
        """Number of keyframes observing each point (n_points,) int64."""
        if not self.keyframes:
            return np.zeros(self.n_points, np.int64)
        ids = np.concatenate([kf.point_ids[kf.point_ids >= 0] for kf in self.keyframes])
        return np.bincount(ids, minlength=self.n_points).astype(np.int64)

    def covisible_keyframes(self, point_ids: np.ndarray, k: int) -> list[KeyFrame]:
        """The ``k`` keyframes sharing the most of ``point_ids``, best first."""
        point_ids = np.asarray(point_ids, np.int64)
        if len(point_ids) == 0 or not self.keyframes:
            return []
        mask = np.zeros(self.n_points, bool)
        mask[point_ids[point_ids >= 0]] = True
        scores = []
        for kf in self.keyframes:
            obs = kf.point_ids[kf.point_ids >= 0]
            scores.append(int(mask[obs].sum()))
        order = np.argsort(-np.asarray(scores), kind="stable")
        return [self.keyframes[i] for i in order[:k] if scores[i] > 0]

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the map to a compressed ``.npz`` file; returns the path written."""
        path = Path(path)
        n = self.n_points
        kfs = self.keyframes
        offsets = np.cumsum([0] + [len(kf.uv) for kf in kfs]).astype(np.int64)

        def cat(attr, shape, dtype):
            return np.concatenate([getattr(kf, attr) for kf in kfs]) if kfs else np.zeros(shape, dtype)

        np.savez_compressed(
            path, version=MAP_FORMAT_VERSION,
            positions=self.positions[:n], descriptors=self.descriptors[:n], n_visible=self.n_visible[:n],
            n_found=self.n_found[:n], first_kf=self.first_kf[:n], alive=self.alive[:n],
            kf_ids=np.array([kf.id for kf in kfs], np.int64),
            kf_frame_index=np.array([kf.frame_index for kf in kfs], np.int64),
            kf_T_world_camera=np.array([kf.T_world_camera for kf in kfs]).reshape(-1, 4, 4),
            kf_offsets=offsets, kf_uv=cat("uv", (0, 2), np.float64), kf_octave=cat("octave", (0,), np.int32),
            kf_desc=cat("desc", (0, 32), np.uint8), kf_depth=cat("depth_m", (0,), np.float64),
            kf_point_ids=cat("point_ids", (0,), np.int64),
        )
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path) -> "Map":
        """Read a map written by :meth:`save`."""
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise InputFileError(f"{path}: cannot read an arkit map ({e})") from None
        if "version" not in z or int(z["version"]) != MAP_FORMAT_VERSION:
            raise InputFileError(f"{path}: not an arkit map file (format version {MAP_FORMAT_VERSION} expected)")
        m = cls()
        n = len(z["positions"])
        m._grow(n)
        m.n_points = n
        for name in ("positions", "descriptors", "n_visible", "n_found", "first_kf", "alive"):
            getattr(m, name)[:n] = z[name]
        off = z["kf_offsets"]
        for i, kid in enumerate(z["kf_ids"]):
            s = slice(off[i], off[i + 1])
            m.keyframes.append(KeyFrame(int(kid), int(z["kf_frame_index"][i]), z["kf_T_world_camera"][i].copy(),
                                        z["kf_uv"][s].copy(), z["kf_octave"][s].copy(), z["kf_desc"][s].copy(),
                                        z["kf_depth"][s].copy(), z["kf_point_ids"][s].copy()))
        return m
