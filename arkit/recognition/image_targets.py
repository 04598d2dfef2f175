"""Image targets (ARKit reference images / Vuforia image targets): database build and detection.

>>> db = ImageTargetDatabase.build([("poster", poster_rgb, 0.30)])        # doctest: +SKIP
>>> for det in db.detect(frame_rgb, intrinsics):                         # doctest: +SKIP
...     det.name, det.corners_px, det.T_camera_target

Detection: features of the frame are matched against one descriptor index over all targets
(ratio test), matches vote for targets, and each candidate is verified with a USAC-MAGSAC
homography (seeded), inlier count and ratio, and a sanity check of the projected quad. The
metric pose comes from planar PnP on the inliers with the target's physical size. See
:mod:`arkit.recognition.target_pose` for the target's local frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError, FrameError
from arkit.recognition.features import (
    DescriptorIndex, check_feature_type, create_extractor, detect_features, is_binary,
)
from arkit.recognition.target_pose import (
    apply_homography, corners_target_px, pose_from_correspondences, quad_is_sane, robust_homography,
    target_px_to_local,
)

log = logging.getLogger(__name__)


class TargetTextureError(ArkitError):
    """A target image has too little texture to be recognised reliably."""


@dataclass(frozen=True)
class ImageTarget:
    """One reference image, resampled so its longer side is the database's ``target_size_px``.

    Parameters
    ----------
    name : str
    width_m : float
        Physical width of the printed image (metres).
    gray : (h, w) uint8
        The resampled grayscale target image.
    points_px : (N, 2) float32
        Keypoints in target pixels.
    descriptors : (N, D) uint8 or float32
    """

    name: str
    width_m: float
    gray: np.ndarray
    points_px: np.ndarray
    descriptors: np.ndarray

    @property
    def size_px(self) -> tuple:
        """``(w, h)`` of the resampled target image."""
        return (int(self.gray.shape[1]), int(self.gray.shape[0]))

    @property
    def height_m(self) -> float:
        w, h = self.size_px
        return self.width_m * h / w

    def local_points(self, points_px) -> np.ndarray:
        """Target pixels (N, 2) -> local-frame points (N, 3) in metres."""
        return target_px_to_local(points_px, *self.size_px, self.width_m)

    @property
    def corners_local(self) -> np.ndarray:
        """(4, 3) outer corners TL, TR, BR, BL in the local frame."""
        return self.local_points(corners_target_px(*self.size_px))


@dataclass(frozen=True)
class TargetDetection:
    """One verified target in one frame.

    Parameters
    ----------
    name : str
    H_frame_target : (3, 3) float64
        Maps target pixels to frame pixels.
    corners_px : (4, 2) float64
        Target corners TL, TR, BR, BL in the frame.
    n_matches, n_inliers : int
    inlier_ratio : float
    T_camera_target : (4, 4) float64 or None
        Metric pose (None when no intrinsics were given or PnP failed).
    reprojection_error_px : float
        RMS error of the inliers under the pose (NaN without a pose).
    inliers_target_px, inliers_frame_px : (K, 2) float32
        The correspondences behind the final homography and pose: the sub-pixel aligned points
        when refinement succeeded, else the feature inliers (``n_inliers`` always counts the
        feature inliers).
    """

    name: str
    H_frame_target: np.ndarray
    corners_px: np.ndarray
    n_matches: int
    n_inliers: int
    inlier_ratio: float
    T_camera_target: Optional[np.ndarray] = None
    reprojection_error_px: float = float("nan")
    inliers_target_px: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32), repr=False)
    inliers_frame_px: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32), repr=False)


def to_gray(image: np.ndarray, what: str = "image") -> np.ndarray:
    """RGB / RGBA / gray uint8 -> (H, W) uint8 gray."""
    import cv2

    a = np.asarray(image)
    if a.dtype != np.uint8 or a.size == 0:
        raise FrameError(f"{what} must be a non-empty uint8 array, got dtype {a.dtype} shape {a.shape}")
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[2] == 3:
        return cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)
    if a.ndim == 3 and a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_RGBA2GRAY)
    raise FrameError(f"{what} must be (H, W, 3) RGB or (H, W) gray, got shape {a.shape}")


class ImageTargetDatabase:
    """A set of image targets with one descriptor index over all of them.

    Build with :meth:`build` or :meth:`from_folder`; save/load with
    :func:`arkit.recognition.target_db.save_database` / ``load_database`` (also :meth:`save`,
    :meth:`load`).

    Parameters (build)
    ------------------
    feature_type : {"orb", "sift", "akaze"}
        ``"orb"`` by default (fastest; see ``benchmarks/recognition.py`` for the comparison).
    target_size_px : int
        Longer side of the resampled target images.
    min_features, min_coverage_cells : int
        Texture requirement: at least ``min_features`` keypoints, spread over at least
        ``min_coverage_cells`` cells of a 4x4 grid; otherwise :class:`TargetTextureError`.
    index : {"auto", "flann", "brute"}
        Descriptor index over all targets (see :class:`~arkit.recognition.features.DescriptorIndex`).

    Attributes
    ----------
    ratio : float
        Lowe ratio-test threshold (0.8).
    min_inliers, min_inlier_ratio : int, float
        Verification: homography inliers needed, absolute (12) and as a share of the matches (0.15).
    ransac_threshold_px : float
        USAC-MAGSAC inlier threshold (4 px).
    max_candidates : int
        Targets (most votes first) verified per frame.
    refine : bool
        Align the verified homography to the target image with sub-pixel accuracy
        (:mod:`~arkit.recognition.target_refine`).
    """

    def __init__(self, targets: Sequence[ImageTarget], feature_type: str = "orb", target_size_px: int = 480,
                 frame_features: int = 1500, index: str = "auto"):
        self.feature_type = check_feature_type(feature_type)
        self.targets = tuple(targets)
        names = [t.name for t in self.targets]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ArkitError(f"image target names must be unique; repeated: {', '.join(dup)}")
        self.target_size_px = int(target_size_px)
        self.frame_features = int(frame_features)
        self.index_kind = index
        self._extractor = create_extractor(self.feature_type, self.frame_features)
        self.index = DescriptorIndex([t.descriptors for t in self.targets], is_binary(self.feature_type), index=index)
        self._all_points = (np.concatenate([t.points_px for t in self.targets]).astype(np.float32)
                            if self.targets else np.zeros((0, 2), np.float32))
        # verification settings
        self.ratio = 0.8
        self.min_inliers = 12
        self.min_inlier_ratio = 0.15
        self.ransac_threshold_px = 4.0
        self.max_candidates = 4
        self.refine = True  # sub-pixel alignment of the verified homography (target_refine.py)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def build(cls, entries: Sequence, feature_type: str = "orb", target_size_px: int = 480,
              target_features: int = 800, frame_features: int = 1500, min_features: int = 60,
              min_coverage_cells: int = 6, index: str = "auto") -> "ImageTargetDatabase":
        """Build a database from ``(name, image_rgb, physical_width_m)`` entries.

        Raises
        ------
        TargetTextureError
            Naming the image, how many features it has and how many are needed.
        ArkitError
            For an empty list, a bad width or duplicate names.
        """
        if not entries:
            raise ArkitError("no image targets given; pass (name, image_rgb, physical_width_m) entries")
        ft = check_feature_type(feature_type)
        extractor = create_extractor(ft, target_features)
        targets = []
        for entry in entries:
            try:
                name, image, width_m = entry
            except (TypeError, ValueError):
                raise ArkitError(f"image target entries must be (name, image_rgb, physical_width_m), got {entry!r:.80}") from None
            targets.append(make_target(str(name), image, width_m, extractor, target_size_px, min_features, min_coverage_cells,
                                       extra_scales=(0.5,) if ft == "orb" else ()))
        return cls(targets, ft, target_size_px, frame_features, index)

    @classmethod
    def from_folder(cls, folder, **kwargs) -> "ImageTargetDatabase":
        """Build from a folder of images (see :func:`arkit.recognition.target_db.read_target_folder`)."""
        from arkit.recognition.target_db import read_target_folder

        return cls.build(read_target_folder(folder), **kwargs)

    def save(self, path) -> Path:
        from arkit.recognition.target_db import save_database

        return save_database(self, path)

    @classmethod
    def load(cls, path) -> "ImageTargetDatabase":
        from arkit.recognition.target_db import load_database

        return load_database(path)

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def names(self) -> tuple:
        return tuple(t.name for t in self.targets)

    def target(self, name: str) -> ImageTarget:
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(f"no image target named {name!r}; known: {', '.join(self.names)}")

    # -- detection ---------------------------------------------------------------------------
    def detect(self, image, intrinsics: Optional[Intrinsics] = None, max_results: int = 4,
               exclude: Sequence[str] = ()) -> list:
        """Find targets in a frame.

        Parameters
        ----------
        image : (H, W, 3) uint8 RGB or (H, W) uint8 gray
        intrinsics : Intrinsics, optional
            Needed for the metric pose ``T_camera_target``.
        max_results : int
        exclude : names of targets not to look for (e.g. already tracked ones).

        Returns
        -------
        list of TargetDetection, most inliers first.
        """
        gray = to_gray(image, "frame")
        if intrinsics is not None:
            intrinsics.check_image(gray)
        pts, desc = detect_features(self._extractor, gray)
        qi, ti, dist = self.index.knn(desc, k=3)
        if len(qi) == 0:
            return []
        # ratio test against the nearest neighbour that is not the same spot of the same target
        # (with extra target scales one point can appear twice; that is not an ambiguity)
        pos, own = self._all_points, self.index.owner

        def same_spot(j):
            return (own[ti[:, 0]] == own[ti[:, j]]) & (np.linalg.norm(pos[ti[:, 0]] - pos[ti[:, j]], axis=1) < 4.0)

        s1, s2 = same_spot(1), same_spot(2)
        d_other = np.where(~s1, dist[:, 1], np.where(~s2, dist[:, 2], np.inf))
        good = dist[:, 0] < self.ratio * d_other
        qi, best = qi[good], ti[good, 0]
        owner = self.index.owner[best]
        votes = np.bincount(owner, minlength=len(self.targets))
        skip = {i for i, t in enumerate(self.targets) if t.name in set(exclude)}
        order = [int(i) for i in np.argsort(-votes, kind="stable") if votes[i] >= self.min_inliers and i not in skip]
        results = []
        for ti_ in order[: self.max_candidates]:
            sel = owner == ti_
            target = self.targets[ti_]
            det = self._verify(target, target.points_px[self.index.local_index[best[sel]]], pts[qi[sel]], gray,
                               intrinsics)
            if det is not None:
                results.append(det)
        results.sort(key=lambda d: -d.n_inliers)
        return results[:max_results]

    def _verify(self, target: ImageTarget, src, dst, gray, intrinsics) -> Optional[TargetDetection]:
        frame_size = (gray.shape[1], gray.shape[0])
        n = len(src)
        H, inl = robust_homography(src, dst, self.ransac_threshold_px, seed=0)
        if H is None:
            log.debug("%s: no homography from %d matches", target.name, n)
            return None
        k = int(inl.sum())
        if k < self.min_inliers or k < self.min_inlier_ratio * n:
            log.debug("%s: %d inliers of %d matches is too few", target.name, k, n)
            return None
        corners = apply_homography(H, corners_target_px(*target.size_px))
        ok, why = quad_is_sane(corners, frame_size=frame_size)
        if not ok:
            log.debug("%s: rejected homography: %s", target.name, why)
            return None
        src_in, dst_in = src[inl].astype(np.float32), dst[inl].astype(np.float32)
        if self.refine:
            from arkit.recognition.target_refine import refine_homography

            H2, ref_t, ref_f = refine_homography(target.gray, gray, H)
            corners2 = apply_homography(H2, corners_target_px(*target.size_px))
            if len(ref_t) and quad_is_sane(corners2, frame_size=frame_size)[0]:
                H, corners, src_in, dst_in = H2, corners2, ref_t, ref_f
        T, rms = None, float("nan")
        if intrinsics is not None:
            T, rms = pose_from_correspondences(target.local_points(src_in), dst_in, intrinsics)
        return TargetDetection(target.name, H, corners, n, k, k / max(n, 1), T, rms, src_in, dst_in)


def make_target(name: str, image, width_m, extractor, target_size_px: int = 480, min_features: int = 60,
                min_coverage_cells: int = 6, extra_scales=(0.5,)) -> ImageTarget:
    """Resample one target image, extract its features (also from copies at ``extra_scales``,
    for far-away views) and check its texture (full-size features only)."""
    import cv2

    try:
        width_m = float(width_m)
    except (TypeError, ValueError):
        raise ArkitError(f"image target {name!r}: physical width must be a number in metres, got {width_m!r}") from None
    if not (np.isfinite(width_m) and width_m > 0):
        raise ArkitError(f"image target {name!r}: physical width must be positive metres, got {width_m}")
    gray = to_gray(image, f"image target {name!r}")
    h, w = gray.shape
    if min(h, w) < 16:
        raise TargetTextureError(f"image target {name!r} is only {w}x{h} px; use an image of at least 100 px per side")
    scale = target_size_px / float(max(h, w))
    if abs(scale - 1.0) > 1e-6:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)
    pts, desc = detect_features(extractor, gray)
    n = len(pts)
    hh, ww = gray.shape
    cells = 0
    if n:
        cx = np.clip((pts[:, 0] * 4 / ww).astype(int), 0, 3)
        cy = np.clip((pts[:, 1] * 4 / hh).astype(int), 0, 3)
        cells = len(np.unique(cy * 4 + cx))
    if n < min_features or cells < min_coverage_cells:
        raise TargetTextureError(
            f"image target {name!r} has too little texture: {n} features spread over {cells} of 16 grid "
            f"cells, but at least {min_features} features over at least {min_coverage_cells} cells are "
            f"needed; use a detailed, high-contrast image (photos and graphics with many corners work, "
            f"plain colours, gradients and sparse text do not)"
        )
    # extra features from a half-size copy: the pyramid of a far-away view has few features at
    # the coarse levels that the full-size target's features match, so add them explicitly
    for scale in extra_scales:
        small = cv2.resize(gray, (max(1, round(ww * scale)), max(1, round(hh * scale))), interpolation=cv2.INTER_AREA)
        p2, d2 = detect_features(extractor, small, max_features=max(1, int(len(pts) * scale)))
        if len(p2):
            p2 = ((p2 + 0.5) / scale - 0.5).astype(np.float32)
            pts, desc = np.concatenate([pts, p2]), np.concatenate([desc, d2])
    return ImageTarget(name, width_m, gray, pts, desc)
