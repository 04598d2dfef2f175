"""Local features for image targets: extractor factory and a descriptor index over all targets.

Three OpenCV feature types are supported (``benchmarks/recognition.py`` compares them on real
and synthetic images):

* ``"orb"`` (default): binary, fastest; matched with Hamming distance.
* ``"sift"``: float, most inliers but several times slower.
* ``"akaze"``: binary (``cv2.xfeatures2d.AKAZE_create`` in OpenCV 5).

:class:`DescriptorIndex` holds the descriptors of every target in one structure, built once,
so a query costs roughly the same whatever the number of targets: FLANN LSH for binary
descriptors, FLANN randomized KD-trees for float ones, or exact brute force for small
databases (``index="auto"`` picks brute force below ``brute_force_max`` descriptors).

Determinism: brute force is exact. OpenCV builds FLANN LSH tables with an internal RNG that
cannot be seeded from Python, so with ``index="flann"`` a few borderline matches can differ
between processes; the robust verification after matching makes poses agree closely anyway.
"""

from __future__ import annotations

import logging

import numpy as np

from arkit.core.errors import ArkitError

log = logging.getLogger(__name__)

FEATURE_TYPES = ("orb", "sift", "akaze")
_FLANN_INDEX_KDTREE = 1
_FLANN_INDEX_LSH = 6


def is_binary(feature_type: str) -> bool:
    """True when the descriptors of ``feature_type`` are binary (Hamming distance)."""
    return check_feature_type(feature_type) in ("orb", "akaze")


def check_feature_type(feature_type: str) -> str:
    ft = str(feature_type).lower()
    if ft not in FEATURE_TYPES:
        raise ArkitError(f"unknown feature type {feature_type!r}; use one of {', '.join(FEATURE_TYPES)}")
    return ft


def create_extractor(feature_type: str = "orb", n_features: int = 1000):
    """A cv2 feature detector+descriptor.

    Parameters
    ----------
    feature_type : {"orb", "sift", "akaze"}
    n_features : int
        Upper bound on keypoints (ORB, SIFT); AKAZE uses its detector threshold instead.
    """
    import cv2

    ft = check_feature_type(feature_type)
    if ft == "orb":
        return cv2.ORB_create(nfeatures=int(n_features), scaleFactor=1.2, nlevels=8, fastThreshold=12)
    if ft == "sift":
        return cv2.SIFT_create(nfeatures=int(n_features))
    akaze = getattr(cv2, "AKAZE_create", None) or cv2.xfeatures2d.AKAZE_create
    return akaze(threshold=0.0008)


def detect_features(extractor, gray: np.ndarray, mask=None, max_features: int | None = None):
    """Detect and describe keypoints in a grayscale uint8 image.

    Returns
    -------
    points_px : (N, 2) float32
        Keypoint positions (pixel-centre convention, as cv2).
    descriptors : (N, D) uint8 or float32
        ``D`` is 32 (ORB), 61 (AKAZE) or 128 (SIFT). Empty (0, D) when nothing was found.
    """
    kps, desc = extractor.detectAndCompute(gray, mask)
    if desc is None or len(kps) == 0:
        return np.zeros((0, 2), np.float32), None
    if max_features is not None and len(kps) > max_features:
        order = np.argsort([-k.response for k in kps], kind="stable")[:max_features]
        kps = [kps[i] for i in order]
        desc = desc[order]
    pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    return pts, desc


class DescriptorIndex:
    """Nearest-neighbour index over the descriptors of every target, built once.

    Parameters
    ----------
    descriptors : list of (N_i, D) arrays
        One array per target (uint8 for binary features, float32 otherwise).
    binary : bool
        Hamming (True) or L2 (False) distance.
    index : {"auto", "flann", "brute"}
    brute_force_max : int
        With ``index="auto"``, databases up to this many descriptors use exact brute force.
    """

    def __init__(self, descriptors: list, binary: bool, index: str = "auto", brute_force_max: int = 4000):
        import cv2

        if index not in ("auto", "flann", "brute"):
            raise ArkitError(f"unknown descriptor index {index!r}; use 'auto', 'flann' or 'brute'")
        self.binary = bool(binary)
        dtype = np.uint8 if self.binary else np.float32
        parts = [np.asarray(d, dtype=dtype) for d in descriptors]
        self.owner = np.concatenate([np.full(len(d), i, np.int32) for i, d in enumerate(parts)]) if parts else np.zeros(0, np.int32)
        self.local_index = np.concatenate([np.arange(len(d), dtype=np.int32) for d in parts]) if parts else np.zeros(0, np.int32)
        self.size = int(len(self.owner))
        self.kind = ("brute" if self.size <= brute_force_max else "flann") if index == "auto" else index
        if self.size == 0:
            self._matcher = None
            return
        all_desc = np.ascontiguousarray(np.concatenate(parts))
        if self.kind == "brute":
            self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING if self.binary else cv2.NORM_L2)
            self._train = all_desc
        else:
            if self.binary:
                params = dict(algorithm=_FLANN_INDEX_LSH, table_number=8, key_size=24, multi_probe_level=1)
            else:
                params = dict(algorithm=_FLANN_INDEX_KDTREE, trees=4)
            self._matcher = cv2.FlannBasedMatcher(params, dict(checks=64))
            self._matcher.add([all_desc])
            self._matcher.train()
            self._train = None

    def knn(self, query: np.ndarray, k: int = 2):
        """The ``k`` nearest neighbours of each query descriptor.

        Returns
        -------
        query_idx : (M,) int32
            Query rows that got ``k`` neighbours.
        train_idx : (M, k) int32
            Global database rows (see :attr:`owner`, :attr:`local_index`).
        dist : (M, k) float32
        """
        empty = (np.zeros(0, np.int32), np.zeros((0, k), np.int32), np.zeros((0, k), np.float32))
        if self._matcher is None or query is None or len(query) == 0:
            return empty
        q = np.ascontiguousarray(query, dtype=np.uint8 if self.binary else np.float32)
        if self._train is not None:
            matches = self._matcher.knnMatch(q, self._train, k=k)
        else:
            matches = self._matcher.knnMatch(q, k=k)
        if self.size < k:
            return empty
        rows = [(m[0].queryIdx, *(x.trainIdx for x in m[:k]), *(x.distance for x in m[:k]))
                for m in matches if len(m) >= k]
        if not rows:
            return empty
        a = np.array(rows, dtype=np.float64)
        return a[:, 0].astype(np.int32), a[:, 1:k + 1].astype(np.int32), a[:, k + 1:].astype(np.float32)
