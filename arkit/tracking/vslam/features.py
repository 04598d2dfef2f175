"""ORB features with a uniform spatial spread (grid bucketing) and Hamming distances."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FrameFeatures:
    """Keypoints and descriptors of one image.

    Parameters
    ----------
    uv : (N, 2) float64
        Keypoint pixel positions.
    octave : (N,) int32
        Pyramid level each keypoint was detected at (0 = full resolution).
    desc : (N, 32) uint8
        ORB descriptors (256 bits).
    depth_m : (N,) float64
        Depth at each keypoint (0 = none / invalid).
    """

    uv: np.ndarray
    octave: np.ndarray
    desc: np.ndarray
    depth_m: np.ndarray

    def __len__(self) -> int:
        return len(self.uv)

    @classmethod
    def empty(cls) -> "FrameFeatures":
        return cls(np.zeros((0, 2)), np.zeros(0, np.int32), np.zeros((0, 32), np.uint8), np.zeros(0))


def undistort_features(feats: FrameFeatures, intrinsics) -> FrameFeatures:
    """The same features with keypoints moved to the ideal pinhole camera of ``intrinsics``
    (same fx, fy, cx, cy, no distortion) through :meth:`Intrinsics.undistort_normalized`
    (radial-tangential or fisheye). Depth stays as sampled at the raw (distorted) keypoint."""
    K = intrinsics
    xy_d = np.stack([(feats.uv[:, 0] - K.cx) / K.fx, (feats.uv[:, 1] - K.cy) / K.fy], axis=1)
    xy = K.undistort_normalized(xy_d)
    uv = np.stack([K.fx * xy[:, 0] + K.cx, K.fy * xy[:, 1] + K.cy], axis=1)
    return FrameFeatures(uv, feats.octave, feats.desc, feats.depth_m)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances between broadcastable uint8 descriptor arrays (..., 32) -> (...) int."""
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.int32)


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All-pairs Hamming distances (Na, 32) x (Nb, 32) -> (Na, Nb) int32 (bit unpacking + one matmul)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.int32)
    bits_a = np.unpackbits(a, axis=1).astype(np.float32)
    bits_b = np.unpackbits(b, axis=1).astype(np.float32)
    d = bits_a.sum(1)[:, None] + bits_b.sum(1)[None, :] - 2.0 * bits_a @ bits_b.T
    return np.rint(d).astype(np.int32)


def sample_depth(depth_m: np.ndarray, uv: np.ndarray, window_px: int = 7, max_spread: float = 0.05) -> np.ndarray:
    """Depth at pixels ``uv`` (N, 2) from a (H, W) float32 depth image, 0 where invalid or where
    the ``window_px`` neighbourhood spans more than ``max_spread`` relative depth (an edge).

    Only the N windows are read (no full-image filtering); invalid (0) pixels inside a window
    are ignored for the spread, as they carry no depth."""
    h, w = depth_m.shape
    ui = np.clip(np.rint(uv[:, 0]).astype(np.intp), 0, w - 1)
    vi = np.clip(np.rint(uv[:, 1]).astype(np.intp), 0, h - 1)
    d = depth_m[vi, ui].astype(np.float64)
    if window_px > 1 and len(uv):
        r = window_px // 2
        off = np.arange(-r, window_px - r)
        rows = np.clip(vi[:, None] + off, 0, h - 1)
        cols = np.clip(ui[:, None] + off, 0, w - 1)
        patch = depth_m[rows[:, :, None], cols[:, None, :]].reshape(len(uv), -1)
        hi = patch.max(1).astype(np.float64)
        lo = np.where(patch > 0, patch, np.float32(1e6)).min(1).astype(np.float64)
        d = np.where((hi - lo) <= max_spread * np.maximum(d, 1e-6), d, 0.0)
    return d


class OrbExtractor:
    """ORB keypoints spread over the image by keeping the strongest few per grid cell.

    Parameters
    ----------
    n_features : int
        Target number of keypoints per frame.
    n_levels : int
        Pyramid levels.
    scale_factor : float
        Pyramid scale step.
    grid_cols, grid_rows : int
        Bucketing grid; each cell keeps at most ``ceil(n_features / cells * 1.5)`` keypoints,
        then the strongest overall fill up to ``n_features``.
    fast_threshold : int
        FAST threshold; a second, lower threshold (``min_fast_threshold``) is used when the
        image yields too few corners (low texture), as ORB-SLAM does per cell.
    """

    def __init__(self, n_features: int = 1000, n_levels: int = 8, scale_factor: float = 1.2,
                 grid_cols: int = 16, grid_rows: int = 12, fast_threshold: int = 20,
                 min_fast_threshold: int = 7, depth_window_px: int = 7, max_depth_spread: float = 0.05):
        import cv2

        self.depth_window_px = int(depth_window_px)
        self.max_depth_spread = float(max_depth_spread)
        self.n_features = int(n_features)
        self.n_levels = int(n_levels)
        self.scale_factor = float(scale_factor)
        self.grid = (int(grid_cols), int(grid_rows))
        self._orb = cv2.ORB_create(nfeatures=3 * self.n_features, scaleFactor=scale_factor, nlevels=n_levels,
                                   edgeThreshold=19, patchSize=31, fastThreshold=fast_threshold)
        self._orb_low = cv2.ORB_create(nfeatures=3 * self.n_features, scaleFactor=scale_factor, nlevels=n_levels,
                                       edgeThreshold=19, patchSize=31, fastThreshold=min_fast_threshold)
        #: sigma^2 of each pyramid level (reprojection-error weights use its inverse)
        self.level_sigma2 = self.scale_factor ** (2 * np.arange(self.n_levels))
        self.level_scale = self.scale_factor ** np.arange(self.n_levels)

    def _bucket(self, kps, width: int, height: int) -> list:
        if len(kps) <= self.n_features:
            return list(kps)
        import cv2

        gc, gr = self.grid
        pts = cv2.KeyPoint_convert(kps).astype(np.float64)
        resp = np.array([k.response for k in kps], np.float64)
        cell = (np.minimum((pts[:, 1] * gr / height).astype(int), gr - 1) * gc
                + np.minimum((pts[:, 0] * gc / width).astype(int), gc - 1))
        per_cell = int(np.ceil(1.5 * self.n_features / (gc * gr)))
        order = np.lexsort((-resp, cell))  # by cell, strongest first
        sorted_cells = cell[order]
        first = np.searchsorted(sorted_cells, sorted_cells, side="left")
        rank = np.arange(len(order)) - first
        keep = order[rank < per_cell]
        if len(keep) > self.n_features:
            keep = keep[np.argsort(-resp[keep], kind="stable")[: self.n_features]]
        elif len(keep) < self.n_features:  # sparse cells left room: fill with the strongest others
            rest = order[rank >= per_cell]
            rest = rest[np.argsort(-resp[rest], kind="stable")[: self.n_features - len(keep)]]
            keep = np.concatenate([keep, rest])
        return [kps[i] for i in np.sort(keep)]

    def extract(self, gray: np.ndarray, depth_m: np.ndarray | None = None) -> FrameFeatures:
        """Detect and describe keypoints in a (H, W) uint8 image.

        Parameters
        ----------
        gray : (H, W) uint8
        depth_m : (H, W) float32, optional
            Depth image (0 = invalid); sampled at the rounded keypoint position.
        """
        import cv2

        h, w = gray.shape[:2]
        kps = self._orb.detect(gray, None)
        if len(kps) < self.n_features // 2:
            kps = self._orb_low.detect(gray, None)
        if not kps:
            return FrameFeatures.empty()
        kps = self._bucket(kps, w, h)
        kps, desc = self._orb.compute(gray, kps)
        if desc is None or len(kps) == 0:
            return FrameFeatures.empty()
        uv = cv2.KeyPoint_convert(kps).astype(np.float64)
        octave = np.array([k.octave for k in kps], np.int32).clip(0, self.n_levels - 1)
        d = np.zeros(len(uv))
        if depth_m is not None:
            d = sample_depth(depth_m, uv, self.depth_window_px, self.max_depth_spread)
        return FrameFeatures(uv, octave, np.ascontiguousarray(desc, np.uint8), d)
