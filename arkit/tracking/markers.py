"""Fiducial marker detection (ArUco / AprilTag via OpenCV 5) and single-marker pose.

Marker local frame (arkit's surface-anchor convention, see
:class:`arkit.core.trackables.MarkerTrackable`): origin at the marker centre, +Y out of the
printed face (towards a camera that sees it), +X along the top edge from the top-left to the
top-right corner, +Z towards the bottom edge. OpenCV's marker frame (``SOLVEPNP_IPPE_SQUARE``)
has +X along the top edge, +Y towards the top edge and +Z out of the face;
:data:`T_CVMARKER_MARKER` converts between the two and is the only place that does.

>>> det = MarkerDetector("tag36h11")          # doctest: +SKIP
>>> for d in det.detect(image_rgb):           # doctest: +SKIP
...     T_camera_marker, rms_px = estimate_marker_pose(d.corners_px, 0.065, intrinsics)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError, FrameError
from arkit.core.pose import from_rt

log = logging.getLogger(__name__)

#: Rotation taking arkit marker coordinates (+Y normal, +Z to the bottom edge) to OpenCV marker
#: coordinates (+Z normal, +Y to the top edge): ``p_cvmarker = T_CVMARKER_MARKER @ p_marker``.
T_CVMARKER_MARKER = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)

#: Friendly dictionary names -> OpenCV ``DICT_*`` names.
DICTIONARY_ALIASES = {
    "apriltag_16h5": "DICT_APRILTAG_16h5", "tag16h5": "DICT_APRILTAG_16h5",
    "apriltag_25h9": "DICT_APRILTAG_25h9", "tag25h9": "DICT_APRILTAG_25h9",
    "apriltag_36h10": "DICT_APRILTAG_36h10", "tag36h10": "DICT_APRILTAG_36h10",
    "apriltag_36h11": "DICT_APRILTAG_36h11", "tag36h11": "DICT_APRILTAG_36h11",
    "aruco_original": "DICT_ARUCO_ORIGINAL", "aruco_mip_36h12": "DICT_ARUCO_MIP_36h12",
}
for _bits in (4, 5, 6, 7):
    for _n in (50, 100, 250, 1000):
        DICTIONARY_ALIASES[f"aruco_{_bits}x{_bits}_{_n}"] = f"DICT_{_bits}X{_bits}_{_n}"

_REFINE = {
    "none": "CORNER_REFINE_NONE", "subpix": "CORNER_REFINE_SUBPIX",
    "contour": "CORNER_REFINE_CONTOUR", "apriltag": "CORNER_REFINE_APRILTAG",
    "lines": "CORNER_REFINE_SUBPIX",  # then arkit's edge line fit, see refine_corners_lines
}


#: Named ``DetectorParameters`` override sets for :class:`MarkerDetector` (``preset=``).
#: ``"fast"`` thresholds at one adaptive-threshold window (7 px) instead of OpenCV's three
#: (3, 13, 23 px): 2.5-3x faster detection; on the real-photo tests it finds the same ArUco
#: markers with the same corner accuracy and 50 of the 54 AprilTags (default: 54), and on
#: synthetic frames the same markers and accuracy (see ``benchmarks/markers.py``). Markers
#: whose border is faint or blurred over many pixels are the ones it may miss.
DETECTOR_PRESETS = {
    "default": {},
    "fast": {"adaptiveThreshWinSizeMin": 7, "adaptiveThreshWinSizeMax": 7, "adaptiveThreshWinSizeStep": 10},
}


def dictionary_names() -> list:
    """Every accepted dictionary name: OpenCV's ``DICT_*`` names and the friendly aliases."""
    return sorted(set(_cv_dictionary_names().values())) + sorted(DICTIONARY_ALIASES)


def _cv_dictionary_names() -> dict:
    """Upper-cased OpenCV DICT_* name -> OpenCV's preferred spelling (``DICT_APRILTAG_36h11``)."""
    out = {}
    for n in sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_")):
        if n.upper() not in out or n != n.upper():
            out[n.upper()] = n
    return out


def canonical_dictionary_name(name: str) -> str:
    """Map any accepted dictionary name (case-insensitive) to OpenCV's ``DICT_*`` spelling.

    Raises
    ------
    ArkitError
        For an unknown name; the message lists the valid names.
    """
    if not isinstance(name, str):
        raise ArkitError(f"marker dictionary must be a name such as 'DICT_6X6_250', got {name!r}")
    key = name.strip()
    if key in DICTIONARY_ALIASES:
        return DICTIONARY_ALIASES[key]
    if key.lower() in DICTIONARY_ALIASES:
        return DICTIONARY_ALIASES[key.lower()]
    canonical = _cv_dictionary_names()
    for candidate in (key.upper(), "DICT_" + key.upper()):
        if candidate in canonical:
            return canonical[candidate]
    raise ArkitError(
        f"unknown marker dictionary {name!r}; use one of: {', '.join(dictionary_names())}"
    )


def get_dictionary(name: str):
    """The ``cv2.aruco.Dictionary`` for an accepted dictionary name."""
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, canonical_dictionary_name(name)))


@dataclass(frozen=True)
class MarkerDetection:
    """One detected marker in one image.

    Parameters
    ----------
    marker_id : int
    corners_px : (4, 2) float64
        Image corners in OpenCV order: top-left, top-right, bottom-right, bottom-left of the
        printed marker (clockwise in the image when the marker faces the camera).
    """

    marker_id: int
    corners_px: np.ndarray

    def __post_init__(self):
        c = np.array(self.corners_px, dtype=np.float64).reshape(4, 2)
        c.setflags(write=False)
        object.__setattr__(self, "corners_px", c)
        object.__setattr__(self, "marker_id", int(self.marker_id))


def marker_corners_local(size_m: float) -> np.ndarray:
    """(4, 3) float64 corners of a square marker in arkit's marker frame (OpenCV order).

    Top-left ``(-s/2, 0, -s/2)``, top-right ``(s/2, 0, -s/2)``, bottom-right ``(s/2, 0, s/2)``,
    bottom-left ``(-s/2, 0, s/2)``.
    """
    h = 0.5 * float(size_m)
    return np.array([[-h, 0.0, -h], [h, 0.0, -h], [h, 0.0, h], [-h, 0.0, h]])


def _ippe_object_points(size_m: float) -> np.ndarray:
    h = 0.5 * float(size_m)
    return np.array([[-h, h, 0.0], [h, h, 0.0], [h, -h, 0.0], [-h, -h, 0.0]])


def _as_image_points(corners_px) -> np.ndarray:
    c = np.asarray(corners_px, dtype=np.float64).reshape(-1, 2)
    if c.shape != (4, 2) or not np.all(np.isfinite(c)):
        raise ArkitError(f"marker corners must be 4 finite (x, y) pixel points, got shape {c.shape}")
    return c


def project_px(points_camera, intrinsics: Intrinsics) -> np.ndarray:
    """Pixels (N, 2) float64 of camera-frame points (N, 3); like :meth:`Intrinsics.project`
    (points with z <= 0 give NaN) with a cheap path for pinhole cameras without distortion."""
    P = np.asarray(points_camera, np.float64).reshape(-1, 3)
    if intrinsics.has_distortion:
        return intrinsics.project(P)
    z = P[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = P[:, :2] / z * (intrinsics.fx, intrinsics.fy) + (intrinsics.cx, intrinsics.cy)
    uv[z[:, 0] <= 0] = np.nan
    return uv


def reprojection_rms_px(T_camera_object, object_points, image_points, intrinsics: Intrinsics) -> float:
    """RMS pixel distance between projected ``object_points`` (N, 3) and ``image_points`` (N, 2)."""
    T = np.asarray(T_camera_object, np.float64)
    P = np.asarray(object_points, np.float64).reshape(-1, 3) @ T[:3, :3].T + T[:3, 3]
    d2 = np.sum((project_px(P, intrinsics) - np.asarray(image_points, np.float64).reshape(-1, 2)) ** 2, axis=1)
    if not np.all(np.isfinite(d2)):
        return float("inf")
    return float(np.sqrt(np.mean(d2)))


def rt_to_matrix(rvec, tvec) -> np.ndarray:
    """OpenCV ``(rvec, tvec)`` to a (4, 4) float64 transform."""
    R, _ = cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3, 1))
    return from_rt(R, np.asarray(tvec, np.float64).reshape(3))


def matrix_to_rt(T) -> tuple:
    """(4, 4) transform to OpenCV ``(rvec, tvec)``, each (3, 1) float64."""
    rvec, _ = cv2.Rodrigues(np.asarray(T, np.float64)[:3, :3])
    return rvec.reshape(3, 1), np.asarray(T, np.float64)[:3, 3].reshape(3, 1).copy()


def estimate_marker_pose_candidates(corners_px, size_m: float, intrinsics: Intrinsics, refine: bool = True) -> list:
    """Both IPPE solutions for one square marker, best first.

    Returns
    -------
    list of (T_camera_marker (4, 4) float64, reprojection_rms_px float)
        Up to two candidates sorted by reprojection error; ``T_camera_marker`` uses arkit's
        marker frame (+Y normal). Empty when OpenCV finds no solution.
    """
    img = _as_image_points(corners_px)
    if not size_m > 0:
        raise ArkitError(f"marker size must be positive metres, got {size_m}")
    obj = _ippe_object_points(size_m)
    K, dist = intrinsics.K, intrinsics.dist_coeffs
    try:
        n, rvecs, tvecs, ippe_err = cv2.solvePnPGeneric(obj, img, K, dist, flags=cv2.SOLVEPNP_IPPE_SQUARE)
    except cv2.error as e:  # degenerate corners (collinear, repeated)
        log.debug("IPPE failed: %s", e)
        return []
    ippe_err = np.asarray(ippe_err, np.float64).ravel()
    best_err = float(ippe_err.min()) if len(ippe_err) else 0.0
    Ts = []
    for k, (rvec, tvec) in enumerate(zip(rvecs[:n], tvecs[:n])):
        # LM on the best solution, and on the flip only when it may compete (saves time)
        if refine and (k >= len(ippe_err) or ippe_err[k] <= 2.0 * best_err + 0.25):
            try:
                rvec, tvec = cv2.solvePnPRefineLM(obj, img, K, dist, rvec.copy(), tvec.copy())
            except cv2.error:
                pass
        t = np.asarray(tvec, np.float64).reshape(3)
        if t[2] > 0:  # T_camera_cvmarker @ T_CVMARKER_MARKER (a pure rotation)
            T = np.eye(4)
            T[:3, :3] = cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3, 1))[0] @ T_CVMARKER_MARKER[:3, :3]
            T[:3, 3] = t
            Ts.append(T)
    if not Ts:
        return []
    # corner RMS of every candidate in one batched projection
    T = np.stack(Ts)
    P = np.matmul(marker_corners_local(size_m), np.swapaxes(T[:, :3, :3], 1, 2)) + T[:, None, :3, 3]
    d2 = np.sum((project_px(P.reshape(-1, 3), intrinsics).reshape(len(Ts), 4, 2) - img) ** 2, axis=2)
    rms = np.sqrt(d2.mean(axis=1))
    out = [(Tk, float(e) if np.isfinite(e) else float("inf")) for Tk, e in zip(Ts, rms)]
    out.sort(key=lambda c: c[1])
    return out


def pose_ambiguity(candidates, same_deg: float = 2.0) -> float:
    """IPPE ambiguity of single-marker pose candidates: error ratio best / alternative in [0, 1].

    Close to 1 means both flips explain the corners equally well. 0 when there is one
    candidate or when both candidates are the same pose (within ``same_deg`` degrees; the LM
    refinement often pulls the flip into the right solution)."""
    if len(candidates) < 2:
        return 0.0
    (T0, e0), (T1, e1) = candidates[0], candidates[1]
    R = T0[:3, :3].T @ T1[:3, :3]
    angle_deg = float(np.degrees(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0))))
    if angle_deg < same_deg:
        return 0.0
    return float(e0 / max(e1, 1e-9))


def estimate_marker_pose(corners_px, size_m: float, intrinsics: Intrinsics, refine: bool = True) -> tuple:
    """Pose of one square marker from its 4 image corners (IPPE, then Levenberg-Marquardt).

    Parameters
    ----------
    corners_px : (4, 2) float
        Corners in OpenCV order (top-left, top-right, bottom-right, bottom-left).
    size_m : float
        Side length of the black square, metres.
    intrinsics : Intrinsics
        Uses ``K`` and ``dist_coeffs``.
    refine : bool
        Run ``cv2.solvePnPRefineLM`` on each IPPE solution.

    Returns
    -------
    T_camera_marker : (4, 4) float64
        Marker (arkit frame, +Y normal) to camera (OpenCV axes).
    reprojection_rms_px : float
        RMS corner error of that pose; ``inf`` when no pose could be found (the pose is then
        the identity).
    """
    cands = estimate_marker_pose_candidates(corners_px, size_m, intrinsics, refine)
    if not cands:
        return np.eye(4), float("inf")
    return cands[0]


def marker_size_for(marker_id: int, default_size_m: float, sizes_m: Optional[dict]) -> float:
    """Per-id marker size with a default."""
    if sizes_m and int(marker_id) in sizes_m:
        return float(sizes_m[int(marker_id)])
    return float(default_size_m)


class MarkerDetector:
    """Detects square fiducials with ``cv2.aruco.ArucoDetector``.

    Parameters
    ----------
    dictionary : str
        Any OpenCV ``DICT_*`` name (``"DICT_6X6_250"``, ``"DICT_APRILTAG_36h11"``) or an alias
        (``"aruco_6x6_250"``, ``"apriltag_36h11"``, ``"tag36h11"``).
    refine : {"subpix", "lines", "contour", "apriltag", "none"}
        Corner refinement: OpenCV's methods, or ``"lines"`` = OpenCV's sub-pixel corners
        followed by :func:`refine_corners_lines` (straight-edge fit; the most accurate on
        synthetic ground truth, see ``benchmarks/markers.py``).
    params : dict or cv2.aruco.DetectorParameters, optional
        Overrides of ``DetectorParameters`` attributes, e.g. ``{"adaptiveThreshConstant": 7}``;
        applied after the preset.
    preset : {"default", "fast"}
        Named parameter set from :data:`DETECTOR_PRESETS`; ``"fast"`` (one adaptive-threshold
        scale) detects 2.5-3x faster and may miss faint or strongly blurred markers.

    >>> det = MarkerDetector("DICT_4X4_50")
    >>> det.detect(np.zeros((48, 64), np.uint8))
    []
    """

    def __init__(self, dictionary: str = "DICT_6X6_250", *, refine: str = "lines", params=None,
                 preset: str = "default"):
        self.dictionary_name = canonical_dictionary_name(dictionary)
        self._dictionary = get_dictionary(self.dictionary_name)
        if preset not in DETECTOR_PRESETS:
            raise ArkitError(f"unknown marker detector preset {preset!r}; use one of {sorted(DETECTOR_PRESETS)}")
        self.preset = preset
        if isinstance(params, cv2.aruco.DetectorParameters):
            p = params
        else:
            if params is not None and not isinstance(params, dict):
                raise ArkitError(f"marker detector params must be a dict of DetectorParameters attributes, got {params!r}")
            p = cv2.aruco.DetectorParameters()
            for key, value in {**DETECTOR_PRESETS[preset], **(params or {})}.items():
                if not hasattr(p, key):
                    raise ArkitError(f"unknown ArUco detector parameter {key!r} in MarkerDetector params")
                try:
                    setattr(p, key, value)
                except (TypeError, ValueError, cv2.error) as e:
                    raise ArkitError(f"bad value {value!r} for ArUco detector parameter {key!r}: {e}") from None
        if refine not in _REFINE:
            raise ArkitError(f"unknown corner refinement {refine!r}; use one of {sorted(_REFINE)}")
        if not (isinstance(params, cv2.aruco.DetectorParameters) or "cornerRefinementMethod" in (params or {})):
            p.cornerRefinementMethod = getattr(cv2.aruco, _REFINE[refine])
        self.refine = refine
        self.parameters = p
        self._detector = cv2.aruco.ArucoDetector(self._dictionary, p)

    @property
    def cv_dictionary(self):
        """The underlying ``cv2.aruco.Dictionary``."""
        return self._dictionary

    def detect(self, image, intrinsics: Optional[Intrinsics] = None) -> list:
        """Detect markers in an RGB (H, W, 3) or grayscale (H, W) uint8 image.

        ``intrinsics`` (optional) lets the ``"lines"`` refinement fit edges in undistorted
        coordinates when the lens has distortion.

        Returns
        -------
        list of MarkerDetection
            Sorted by marker id (then by x of the first corner), deterministic.
        """
        img = np.asarray(image)
        if img.ndim == 3 and img.shape[2] in (3, 4):
            gray = cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)
        elif img.ndim == 2:
            gray = img
        else:
            raise FrameError(f"marker detection needs an (H, W, 3) RGB or (H, W) gray image, got shape {img.shape}")
        if gray.dtype != np.uint8:
            raise FrameError(f"marker detection needs a uint8 image, got {gray.dtype}")
        corners, ids, _ = self._detector.detectMarkers(np.ascontiguousarray(gray))
        if ids is None or len(ids) == 0:
            return []
        quads = [np.asarray(c, np.float64).reshape(4, 2) for c in corners]
        if self.refine == "lines":
            cells = self._dictionary.markerSize + 2 * self.parameters.markerBorderBits
            quads = list(refine_quads_lines(gray, np.stack(quads), cells, intrinsics))
        dets = [MarkerDetection(int(i), q) for q, i in zip(quads, ids.ravel())]
        dets.sort(key=lambda d: (d.marker_id, d.corners_px[0, 0], d.corners_px[0, 1]))
        return dets

    def __repr__(self) -> str:
        preset = f", preset={self.preset!r}" if self.preset != "default" else ""
        return f"MarkerDetector({self.dictionary_name!r}, refine={self.refine!r}{preset})"


_LINE_SAMPLES: dict = {}


def _line_samples(n: int, m: int) -> tuple:
    """Cached sample parameters along (t in [0.15, 0.85], (n,)) and across (u in [-1, 1],
    (m,)) an edge for :func:`refine_quads_lines`."""
    key = (int(n), int(m))
    if key not in _LINE_SAMPLES:
        t, u = np.linspace(0.15, 0.85, key[0]), np.linspace(-1.0, 1.0, key[1])
        t.setflags(write=False)
        u.setflags(write=False)
        _LINE_SAMPLES[key] = (t, u)
    return _LINE_SAMPLES[key]


def refine_corners_lines(gray, corners_px, cells: int = 8, intrinsics: Optional[Intrinsics] = None,
                         min_contrast: float = 15.0, max_shift_px: float = 2.0) -> np.ndarray:
    """Refine one marker's corners by fitting straight lines to its four outer edges.

    See :func:`refine_quads_lines`; ``corners_px`` is (4, 2), the result (4, 2) float64.
    """
    q = np.asarray(corners_px, np.float64).reshape(1, 4, 2)
    return refine_quads_lines(gray, q, cells, intrinsics, min_contrast, max_shift_px)[0]


def refine_quads_lines(gray, quads_px, cells: int = 8, intrinsics: Optional[Intrinsics] = None,
                       min_contrast: float = 15.0, max_shift_px: float = 2.0,
                       samples_per_edge: int = 20, samples_across: int = 25) -> np.ndarray:
    """Refine marker corners by fitting straight lines to the four outer edges of each marker.

    Along each edge, intensity profiles across the edge (reaching 0.7 cell into the black
    border and as far out) are sampled; the edge point is where a profile crosses half-way
    between its dark and light ends, which is unbiased for a symmetric blur. A line is fitted to
    each edge's points (total least squares) and adjacent lines are intersected. With
    ``intrinsics`` that have distortion, lines are fitted in undistorted normalised coordinates.
    All markers are processed in one vectorised pass.

    Parameters
    ----------
    gray : (H, W) uint8
    quads_px : (N, 4, 2) float
        Initial corners, OpenCV order per marker.
    cells : int
        Cells across a marker including its border (bits + 2), used to size the profiles.
    min_contrast : float
        Profiles with less grey-level contrast are ignored.
    max_shift_px : float
        A marker whose corners would move further keeps its input corners.

    Returns
    -------
    (N, 4, 2) float64
        Refined corners; a marker's input corners where its fit is unreliable.
    """
    Q = np.asarray(quads_px, np.float64).reshape(-1, 4, 2)
    N = len(Q)
    if N == 0:
        return Q.copy()
    A = Q
    AB = Q[:, [1, 2, 3, 0]] - A  # edge i runs from corner i to corner i + 1
    length = np.sqrt((AB ** 2).sum(axis=2))  # (N, 4)
    side = length.mean(axis=1)
    half = np.clip(0.7 * side / cells, 1.0, 6.0)  # (N,)
    d = AB / np.maximum(length, 1e-9)[..., None]
    nrm = np.stack([d[..., 1], -d[..., 0]], axis=-1)
    flip = ((nrm * (A - Q.mean(axis=1, keepdims=True))).sum(axis=-1) < 0)[..., None]
    nrm = np.where(flip, -nrm, nrm)  # outward normals
    n, m = samples_per_edge, samples_across
    t, u = _line_samples(n, m)
    base = A[:, :, None, :] + t[:, None] * AB[:, :, None, :]  # (N, 4, n, 2)
    step = half[:, None, None] * nrm  # (N, 4, 2): profile half-length along the outward normal
    # sample positions (N, 4, n, m) across each edge point, x and y separately
    mx = (base[..., 0, None] + u * step[:, :, None, 0, None]).astype(np.float32).reshape(-1, m)
    my = (base[..., 1, None] + u * step[:, :, None, 1, None]).astype(np.float32).reshape(-1, m)
    prof = cv2.remap(gray, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
    k = max(1, m // 6)
    dark, light = prof[:, :k].mean(axis=1), prof[:, -k:].mean(axis=1)
    level = 0.5 * (dark + light)
    idx = np.argmax(prof >= level[:, None], axis=1)  # first crossing from dark to light going outward
    ok = ((light - dark) > min_contrast) & (idx > 0)
    j = np.clip(idx, 1, m - 1)
    rows = np.arange(len(prof))
    v0, v1 = prof[rows, j - 1], prof[rows, j]
    dv = v1 - v0
    dv[np.abs(dv) <= 1e-9] = 1.0
    frac = np.clip((level - v0) / dv, 0.0, 1.0)
    s_cross = ((u[j - 1] + frac * (u[1] - u[0])).reshape(N, 4, n) * half[:, None, None])[..., None]
    edge = (base + s_cross * nrm[:, :, None, :]).reshape(-1, 2)
    undistort = intrinsics is not None and intrinsics.has_distortion
    if undistort:
        edge = intrinsics.unproject(edge)[:, :2]
    edge = edge.reshape(N, 4, n, 2)
    w = ok.reshape(N, 4, n, 1).astype(np.float64)  # weights are 0 or 1
    cnt = w[..., 0].sum(axis=2)  # (N, 4)
    mu = (edge * w).sum(axis=2) / np.maximum(cnt, 1.0)[..., None]
    e = (edge - mu[:, :, None, :]) * w
    cxx, cyy, cxy = (e[..., 0] ** 2).sum(2), (e[..., 1] ** 2).sum(2), (e[..., 0] * e[..., 1]).sum(2)
    theta = 0.5 * np.arctan2(2.0 * cxy, cxx - cyy)  # direction of each fitted line
    a, b = -np.sin(theta), np.cos(theta)
    cc = -(a * mu[..., 0] + b * mu[..., 1])  # lines a x + b y + cc = 0, (N, 4)
    prev = [3, 0, 1, 2]  # corner i = edge (i-1) x edge i (homogeneous line intersection)
    a0, b0, c0 = a[:, prev], b[:, prev], cc[:, prev]
    pz = a0 * b - b0 * a
    nz = np.abs(pz) > 1e-12
    good = (cnt >= 4).all(axis=1) & nz.all(axis=1)
    pz = np.where(nz, pz, 1.0)
    out = np.stack([(b0 * cc - c0 * b) / pz, (c0 * a - a0 * cc) / pz], axis=-1)
    if undistort:
        out = intrinsics.project(np.concatenate([out.reshape(-1, 2), np.ones((4 * N, 1))], axis=1)).reshape(N, 4, 2)
    shift = np.linalg.norm(out - Q, axis=2).max(axis=1)
    good &= np.isfinite(shift) & (shift <= max_shift_px) & (side >= 12.0)
    return np.where(good[:, None, None], out, Q)
