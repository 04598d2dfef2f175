"""Known marker layouts (maps and boards) and the joint camera pose from all visible markers.

A :class:`MarkerMap` holds ``T_world_marker`` (arkit marker frame: +Y out of the face, +Z to
the bottom edge) and the size of every marker. Boards lie in the world X-Z plane with +Y up out
of the board; their origin and X, Z axes follow OpenCV's board layout (origin at the top-left
corner of the board, +X to the right, +Z down the board as printed):
``p_world = (x, -z, y)`` for OpenCV's board coordinates ``(x, y, z)``.

>>> board = MarkerMap.grid_board(5, 7, 0.04, 0.01, "DICT_6X6_250")
>>> board.object_points([0]).round(3).tolist()[0]
[0.0, 0.0, 0.0]
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.core.pose import as_transform, from_rt, invert
from arkit.tracking.markers import (
    canonical_dictionary_name, estimate_marker_pose_candidates, get_dictionary, marker_corners_local,
    matrix_to_rt, pose_ambiguity, project_px, rt_to_matrix,
)

log = logging.getLogger(__name__)

#: OpenCV board coordinates (x right, y down the board, z into it) to arkit world (+Y up out
#: of the board): ``p_world = R_WORLD_CVBOARD @ p_cvboard``.
R_WORLD_CVBOARD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def _euler_xyz_deg_to_matrix(rotation_deg) -> np.ndarray:
    """Extrinsic X, then Y, then Z rotations in degrees: ``R = Rz @ Ry @ Rx``."""
    rx, ry, rz = (math.radians(float(a)) for a in rotation_deg)
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def pose_from_corners(corners_world) -> tuple:
    """``(T_world_marker, size_m)`` of a square marker from its (4, 3) corners in OpenCV order."""
    c = np.asarray(corners_world, np.float64).reshape(4, 3)
    x = (c[1] - c[0]) + (c[2] - c[3])
    z = (c[3] - c[0]) + (c[2] - c[1])
    x /= np.linalg.norm(x)
    z -= x * (x @ z)
    z /= np.linalg.norm(z)
    y = np.cross(z, x)
    size = float(np.mean([np.linalg.norm(c[(i + 1) % 4] - c[i]) for i in range(4)]))
    return from_rt(np.stack([x, y, z], axis=1), c.mean(axis=0)), size


def _check_board(what: str, nx, ny, dictionary: str, first_id: int, n_markers: int, **lengths_m) -> None:
    """Raise :class:`ArkitError` for board parameters OpenCV would reject."""
    if int(nx) < 1 or int(ny) < 1 or (what.startswith("charuco") and int(nx) * int(ny) < 4):
        raise ArkitError(f"{what}: the board needs more squares/markers, got {nx}x{ny}")
    for key, value in lengths_m.items():
        if not float(value) > 0:
            raise ArkitError(f"{what}: {key} must be positive metres, got {value}")
    n_dict = get_dictionary(dictionary).bytesList.shape[0]
    if int(first_id) < 0 or int(first_id) + n_markers > n_dict:
        raise ArkitError(f"{what}: ids {first_id}..{int(first_id) + n_markers - 1} do not fit in {dictionary} "
                         f"(ids 0..{n_dict - 1}); use a smaller first_id or a larger dictionary")


@dataclass(frozen=True)
class MarkerPlacement:
    """One marker of a map: its id, side length (metres) and ``T_world_marker`` (4, 4)."""

    marker_id: int
    size_m: float
    T_world_marker: np.ndarray

    def corners_world(self) -> np.ndarray:
        """(4, 3) float64 corners in world coordinates, OpenCV corner order."""
        c = marker_corners_local(self.size_m)
        return c @ self.T_world_marker[:3, :3].T + self.T_world_marker[:3, 3]


@dataclass(frozen=True)
class JointPose:
    """Result of :meth:`MarkerMap.estimate_camera_pose_detailed`."""

    T_world_camera: np.ndarray
    used_ids: tuple
    rms_px: float
    rejected_ids: tuple = ()
    #: IPPE ambiguity of the best single marker: error ratio best / second solution (0..1,
    #: close to 1 = ambiguous). Only meaningful when a single marker was used.
    ambiguity: float = 0.0
    per_marker_rms_px: Optional[dict] = None


class MarkerMap:
    """Known poses of markers in a world frame.

    Parameters
    ----------
    placements : iterable of MarkerPlacement
    dictionary : str, optional
        Dictionary the ids belong to (informational; used by the tracker's default).
    charuco : cv2.aruco.CharucoBoard, optional
        Set by :meth:`charuco_board`.
    """

    def __init__(self, placements=(), dictionary: Optional[str] = None, charuco=None):
        self._placements = {}
        for p in placements:
            if p.marker_id in self._placements:
                raise ArkitError(f"marker id {p.marker_id} appears twice in the marker map; ids must be unique")
            if not p.size_m > 0:
                raise ArkitError(f"marker {p.marker_id}: size_m must be positive metres, got {p.size_m}")
            self._placements[int(p.marker_id)] = MarkerPlacement(
                int(p.marker_id), float(p.size_m), as_transform(p.T_world_marker, f"marker {p.marker_id} pose"))
        self.dictionary = canonical_dictionary_name(dictionary) if dictionary else None
        self.charuco = charuco
        self._corners = {i: p.corners_world() for i, p in self._placements.items()}

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, d) -> "MarkerMap":
        """From YAML-friendly data.

        ``d`` is ``{"dictionary": "DICT_6X6_250", "markers": [...]}`` or just the list, each entry
        ``{id, size_m, position_m: [x, y, z], rotation_deg: [rx, ry, rz]}`` (rotation applied
        about world X, then Y, then Z) or ``{id, size_m, T_world_marker: 4x4}``.
        """
        dictionary = None
        entries = d
        if isinstance(d, dict):
            dictionary = d.get("dictionary")
            entries = d.get("markers")
        if not isinstance(entries, (list, tuple)):
            raise ArkitError("marker map needs a list of markers ({id, size_m, position_m, rotation_deg})")
        placements = []
        for k, e in enumerate(entries):
            if not isinstance(e, dict) or "id" not in e or "size_m" not in e:
                raise ArkitError(f"marker map entry {k} needs at least 'id' and 'size_m', got {e!r}")
            if "T_world_marker" in e:
                T = as_transform(e["T_world_marker"], f"marker map entry {k} T_world_marker")
            else:
                pos = np.asarray(e.get("position_m", (0.0, 0.0, 0.0)), np.float64).reshape(-1)
                rot = np.asarray(e.get("rotation_deg", (0.0, 0.0, 0.0)), np.float64).reshape(-1)
                if pos.shape != (3,) or rot.shape != (3,):
                    raise ArkitError(f"marker map entry {k}: position_m and rotation_deg need 3 numbers each")
                T = from_rt(_euler_xyz_deg_to_matrix(rot), pos)
            placements.append(MarkerPlacement(int(e["id"]), float(e["size_m"]), T))
        return cls(placements, dictionary)

    def to_dict(self) -> dict:
        return {"dictionary": self.dictionary,
                "markers": [{"id": p.marker_id, "size_m": p.size_m, "T_world_marker": p.T_world_marker.tolist()}
                            for p in self._placements.values()]}

    @classmethod
    def single(cls, marker_id: int, size_m: float, dictionary: Optional[str] = None) -> "MarkerMap":
        """One marker whose local frame is the world (world +Y = the marker's normal)."""
        return cls([MarkerPlacement(int(marker_id), float(size_m), np.eye(4))], dictionary)

    @classmethod
    def _from_board(cls, board, dictionary: str, charuco=None) -> "MarkerMap":
        placements = []
        for obj, mid in zip(board.getObjPoints(), board.getIds().ravel()):
            corners = np.asarray(obj, np.float64).reshape(4, 3) @ R_WORLD_CVBOARD.T
            T, size = pose_from_corners(corners)
            placements.append(MarkerPlacement(int(mid), size, T))
        return cls(placements, dictionary, charuco)

    @classmethod
    def grid_board(cls, markers_x: int, markers_y: int, marker_length_m: float, separation_m: float,
                   dictionary: str = "DICT_6X6_250", first_id: int = 0) -> "MarkerMap":
        """OpenCV's ``GridBoard`` layout (ids row by row from ``first_id``), in the world X-Z plane."""
        name = canonical_dictionary_name(dictionary)
        _check_board(f"grid board {markers_x}x{markers_y}", markers_x, markers_y, name, first_id,
                     markers_x * markers_y, marker_length_m=marker_length_m, separation_m=separation_m)
        ids = np.arange(first_id, first_id + markers_x * markers_y, dtype=np.int32)
        board = cv2.aruco.GridBoard((int(markers_x), int(markers_y)), float(marker_length_m), float(separation_m),
                                    get_dictionary(name), ids)
        return cls._from_board(board, name)

    @classmethod
    def charuco_board(cls, squares_x: int, squares_y: int, square_length_m: float, marker_length_m: float,
                      dictionary: str = "DICT_6X6_250", first_id: int = 0,
                      legacy_pattern: bool = False) -> "MarkerMap":
        """OpenCV's ``CharucoBoard`` markers in the world X-Z plane (chessboard corners via
        :meth:`charuco_corners_world`); ids run from ``first_id``."""
        name = canonical_dictionary_name(dictionary)
        n_markers = (int(squares_x) * int(squares_y)) // 2
        _check_board(f"charuco board {squares_x}x{squares_y}", squares_x, squares_y, name, first_id, n_markers,
                     square_length_m=square_length_m, marker_length_m=marker_length_m)
        if not marker_length_m < square_length_m:
            raise ArkitError(f"charuco board: marker_length_m ({marker_length_m}) must be smaller than "
                             f"square_length_m ({square_length_m})")
        ids = np.arange(first_id, first_id + n_markers, dtype=np.int32)
        board = cv2.aruco.CharucoBoard((int(squares_x), int(squares_y)), float(square_length_m),
                                       float(marker_length_m), get_dictionary(name), ids)
        board.setLegacyPattern(bool(legacy_pattern))
        return cls._from_board(board, name, charuco=board)

    # -- queries ------------------------------------------------------------------------------
    @property
    def ids(self) -> tuple:
        return tuple(self._placements)

    def __contains__(self, marker_id) -> bool:
        return int(marker_id) in self._placements

    def __len__(self) -> int:
        return len(self._placements)

    def placement(self, marker_id: int) -> MarkerPlacement:
        try:
            return self._placements[int(marker_id)]
        except KeyError:
            raise ArkitError(f"marker {marker_id} is not in the marker map (ids: {sorted(self._placements)})") from None

    def add(self, marker_id: int, size_m: float, T_world_marker) -> None:
        """Add (or replace) one marker; used by the tracker to grow a map on the fly."""
        self._placements[int(marker_id)] = MarkerPlacement(int(marker_id), float(size_m),
                                                           as_transform(T_world_marker, f"marker {marker_id} pose"))
        self._corners[int(marker_id)] = self._placements[int(marker_id)].corners_world()

    def object_points(self, ids) -> np.ndarray:
        """(4N, 3) float64 world corners of the markers ``ids`` (OpenCV corner order per marker)."""
        if len(ids) == 0:
            return np.zeros((0, 3))
        for i in ids:
            if int(i) not in self._corners:
                self.placement(i)  # raises with the list of known ids
        return np.concatenate([self._corners[int(i)] for i in ids], axis=0)

    def charuco_corners_world(self) -> np.ndarray:
        """(M, 3) float64 chessboard inner corners of a ChArUco map in world coordinates."""
        if self.charuco is None:
            raise ArkitError("this marker map is not a ChArUco board")
        return np.asarray(self.charuco.getChessboardCorners(), np.float64).reshape(-1, 3) @ R_WORLD_CVBOARD.T

    # -- pose ---------------------------------------------------------------------------------
    def estimate_camera_pose(self, detections, intrinsics: Intrinsics, **kwargs):
        """Joint camera pose from every visible map marker.

        Returns
        -------
        (T_world_camera (4, 4) float64, used_ids tuple of int, rms_px float), or None when no map
        marker is visible or no pose fits. See :meth:`estimate_camera_pose_detailed`.
        """
        r = self.estimate_camera_pose_detailed(detections, intrinsics, **kwargs)
        return None if r is None else (r.T_world_camera, r.used_ids, r.rms_px)

    def estimate_camera_pose_detailed(self, detections, intrinsics: Intrinsics, *,
                                      outlier_px: float = 3.0, refine: bool = True,
                                      max_seeds: int = 6) -> Optional[JointPose]:
        """Joint camera pose with outlier rejection.

        1. the largest visible map markers (until one candidate has a median error below 1 px,
           at most ``max_seeds``; at least two when fewer than three markers are visible) give
           IPPE candidates ``T_camera_world``; the candidate with the lowest median per-marker
           corner error over all markers (all candidates and markers in one batched projection)
           is the start;
        2. markers whose RMS corner error exceeds ``max(outlier_px, 3 * median)`` are rejected;
        3. Levenberg-Marquardt (``cv2.solvePnPRefineLM``) from the start on all inlier corners,
           kept when it fits them better; rejection and refinement are repeated once when the
           inliers changed.

        Parameters
        ----------
        detections : list of MarkerDetection
            Markers not in the map are ignored; an id detected twice is ignored (ambiguous).
        intrinsics : Intrinsics
        outlier_px : float
            Minimum RMS corner error (pixels) at which a marker is rejected.
        """
        counts = {}
        for d in detections:
            counts[d.marker_id] = counts.get(d.marker_id, 0) + 1
        dets = {d.marker_id: d for d in detections if d.marker_id in self._placements and counts[d.marker_id] == 1}
        if not dets:
            return None
        ids = np.array(sorted(dets))
        P_all = self.object_points(ids.tolist()).reshape(-1, 4, 3)  # (N, 4, 3) world corners
        Q_all = np.stack([dets[i].corners_px for i in ids.tolist()])  # (N, 4, 2) image corners

        P_flat, Q_flat = P_all.reshape(-1, 3), Q_all.reshape(-1, 2)
        n_markers = len(ids)
        pinhole = not intrinsics.has_distortion
        f, c = np.array([intrinsics.fx, intrinsics.fy]), np.array([intrinsics.cx, intrinsics.cy])

        def per_marker(T):  # (..., N) RMS corner error of every marker for poses T (..., 4, 4)
            Pc = np.matmul(P_flat, np.swapaxes(T[..., :3, :3], -1, -2)) + T[..., None, :3, 3]  # (..., 4N, 3)
            z = Pc[..., 2:3]
            behind = z[..., 0] <= 1e-12
            if behind.any():
                z = np.where(z > 1e-12, z, 1.0)
            if pinhole:
                uv = Pc[..., :2] / z * f + c
            else:
                uv = project_px(Pc.reshape(-1, 3), intrinsics).reshape(Pc.shape[:-1] + (2,))
            d2 = ((uv - Q_flat) ** 2).sum(axis=-1)
            if behind.any():
                d2[behind] = np.inf
            e = np.sqrt(d2.reshape(d2.shape[:-1] + (n_markers, 4)).mean(axis=-1))
            e[~np.isfinite(e)] = np.inf
            return e

        best, best_score, best_errs, ambiguity = None, float("inf"), None, 0.0
        # seeds: the largest markers in the image (their single poses are the most reliable)
        perimeter = np.linalg.norm(Q_all - np.roll(Q_all, -1, axis=1), axis=2).sum(axis=1)
        for n_seeds, k in enumerate(np.argsort(-perimeter, kind="stable")[:max_seeds]):
            if best_score <= 1.0 and (n_seeds >= 2 or n_markers >= 3):
                break  # the start explains every marker (with 3+ markers one seed is conclusive)
            pl = self.placement(int(ids[k]))
            cands = estimate_marker_pose_candidates(Q_all[k], pl.size_m, intrinsics, refine=n_markers == 1)
            if not cands:
                continue
            # every candidate scored on every marker in one batched projection
            Ts = np.stack([T_camera_marker for T_camera_marker, _ in cands]) @ invert(pl.T_world_marker)
            errs_c = per_marker(Ts)  # (C, N)
            scores = _median_rows(errs_c)
            j = int(np.argmin(scores))
            if scores[j] < best_score:
                best, best_score, best_errs = Ts[j], float(scores[j]), errs_c[j]
                ambiguity = pose_ambiguity(cands)
        if best is None:
            return None
        T_camera_world, errs = best, best_errs
        inl = np.ones(n_markers, bool)
        for it in range(2):
            new_inl = errs <= max(outlier_px, 3.0 * float(_median_rows(errs)))
            if not new_inl.any():
                new_inl = errs == errs.min()
            if it == 1 and np.array_equal(new_inl, inl):
                break  # same inliers as the converged solve: solving again changes nothing
            inl = new_inl
            if refine and inl.sum() >= 2:
                T_new = self._solve_joint(T_camera_world, P_all[inl].reshape(-1, 3),
                                          Q_all[inl].reshape(-1, 2), intrinsics)
                errs_new = per_marker(T_new)
                # keep the solve only when it fits the inlier corners at least as well
                if np.mean(errs_new[inl] ** 2) <= np.mean(errs[inl] ** 2) + 1e-12:
                    T_camera_world, errs = T_new, errs_new
        inl &= errs <= max(outlier_px, 3.0 * float(_median_rows(errs[inl])))
        if not inl.any():
            return None
        rms = float(np.sqrt(np.mean(errs[inl] ** 2)))  # RMS over all inlier corners
        used = tuple(int(i) for i in ids[inl])
        return JointPose(invert(T_camera_world), used, rms, tuple(int(i) for i in ids[~inl]),
                         ambiguity if len(used) == 1 else 0.0, dict(zip(ids.tolist(), errs.tolist())))

    @staticmethod
    def _solve_joint(T_camera_world, P, Q, intrinsics) -> np.ndarray:
        """Levenberg-Marquardt from ``T_camera_world`` on (M, 3) world / (M, 2) image points.

        Returns the solved ``T_camera_world`` (the start when OpenCV fails); the caller checks
        that it fits better."""
        K, dist = intrinsics.K, intrinsics.dist_coeffs
        rvec, tvec = matrix_to_rt(T_camera_world)
        try:
            rvec, tvec = cv2.solvePnPRefineLM(P, Q, K, dist, rvec, tvec)
        except cv2.error as e:
            log.debug("joint solvePnP failed: %s", e)
            return T_camera_world
        return rt_to_matrix(rvec, tvec)

    def render(self, T_world_camera, intrinsics: Intrinsics, dictionary: Optional[str] = None, **kwargs) -> np.ndarray:
        """What a pinhole camera at ``T_world_camera`` sees of this map; see :func:`render_markers`."""
        name = dictionary or self.dictionary
        if name is None:
            raise ArkitError("rendering a marker map needs a dictionary name (pass dictionary=...)")
        return render_markers(self._placements.values(), name, T_world_camera, intrinsics, **kwargs)

    def __repr__(self) -> str:
        kind = "charuco " if self.charuco is not None else ""
        return f"MarkerMap({kind}{len(self)} markers, dictionary={self.dictionary!r})"


def _median_rows(x) -> np.ndarray:
    """Median over the last axis (like ``np.median``, cheaper for the few values here)."""
    s = np.sort(x, axis=-1)
    n = s.shape[-1]
    return 0.5 * (s[..., (n - 1) // 2] + s[..., n // 2])


def render_markers(placements, dictionary: str, T_world_camera, intrinsics: Intrinsics, *,
                   background: int = 128, quiet_zone_cells: float = 1.0, pixels_per_cell: int = 40,
                   supersample: int = 4, noise_std: float = 0.0, seed: int = 0) -> np.ndarray:
    """Render printed markers (with a white quiet zone) into an exact synthetic camera image.

    Each marker image from ``cv2.aruco.generateImageMarker`` is mapped by the exact plane
    homography into a ``supersample`` times larger image (pixel centres handled so that a
    corner projects where :meth:`Intrinsics.project` puts it), then box-filtered down with
    ``INTER_AREA``. For synthetic ground-truth tests and previews.

    Parameters
    ----------
    placements : iterable of MarkerPlacement
    dictionary : str
    T_world_camera : (4, 4) float64
    intrinsics : Intrinsics
        Must have no distortion.
    background : int
        Grey level of everything that is not a marker.
    quiet_zone_cells : float
        Width of the white margin around each marker, in marker cells.
    noise_std : float
        Standard deviation of added Gaussian pixel noise (seeded by ``seed``).

    Returns
    -------
    (H, W, 3) uint8 RGB image
    """
    if intrinsics.has_distortion:
        raise ArkitError("render_markers needs undistorted intrinsics (use Intrinsics.undistorted())")
    cv_dict = get_dictionary(dictionary)
    cells = cv_dict.markerSize + 2
    s = int(supersample)
    W, H = intrinsics.width, intrinsics.height
    S = np.array([[s, 0.0, (s - 1) / 2.0], [0.0, s, (s - 1) / 2.0], [0.0, 0.0, 1.0]])
    K_hi = S @ intrinsics.K
    canvas = np.full((H * s, W * s), int(background), np.uint8)
    T_camera_world = invert(as_transform(T_world_camera, "T_world_camera"))
    for p in placements:
        M = cells * int(pixels_per_cell)
        Q = int(round(quiet_zone_cells * pixels_per_cell))
        marker = cv2.aruco.generateImageMarker(cv_dict, int(p.marker_id), M, borderBits=1)
        img = cv2.copyMakeBorder(marker, Q, Q, Q, Q, cv2.BORDER_CONSTANT, value=255)
        n = img.shape[0]
        half = 0.5 * p.size_m * n / M  # half side of the padded square, metres
        local = np.array([[-half, 0.0, -half], [half, 0.0, -half], [half, 0.0, half], [-half, 0.0, half]])
        T = T_camera_world @ p.T_world_marker
        P = local @ T[:3, :3].T + T[:3, 3]
        if np.any(P[:, 2] <= 1e-6):
            continue
        uv = P @ K_hi.T
        uv = uv[:, :2] / uv[:, 2:3]
        src = np.array([[-0.5, -0.5], [n - 0.5, -0.5], [n - 0.5, n - 0.5], [-0.5, n - 0.5]])
        x0, y0 = np.maximum(np.floor(uv.min(axis=0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(uv.max(axis=0)).astype(int) + 3, [W * s, H * s])
        if x1 <= x0 or y1 <= y0:
            continue
        Hm = _exact_homography(src, uv - [x0, y0])  # warp only the marker's bounding box
        roi = canvas[y0:y1, x0:x1].copy()
        cv2.warpPerspective(img, Hm, (x1 - x0, y1 - y0), dst=roi, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_TRANSPARENT)
        canvas[y0:y1, x0:x1] = roi
    out = cv2.resize(canvas, (W, H), interpolation=cv2.INTER_AREA) if s > 1 else canvas
    if noise_std > 0:
        rng = np.random.default_rng(seed)
        out = np.clip(out + rng.normal(0.0, noise_std, out.shape), 0, 255).astype(np.uint8)
    return np.repeat(out[:, :, None], 3, axis=2)


def _exact_homography(src, dst) -> np.ndarray:
    """(3, 3) homography mapping 4 points ``src`` (4, 2) to ``dst`` (4, 2), in float64."""
    A = []
    for (x, y), (u, v) in zip(np.asarray(src, np.float64), np.asarray(dst, np.float64)):
        A.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        A.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(A))
    Hm = vt[-1].reshape(3, 3)
    return Hm / Hm[2, 2]
