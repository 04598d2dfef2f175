"""Fast plane extraction from one organised depth image (PEAC / CAPE style).

The image is cut into square cells; every cell gets a least-squares plane from its moment
sums (one batched ``eigh``); cells whose residual is above a Kinect-like depth-noise model are
rejected; adjacent cells with agreeing planes are joined into regions (connected components
over the cell grid), coplanar neighbouring regions are merged, and finally every pixel of a
region's cells and of the ring of cells around it is tested against the region's plane, so
plane boundaries are found at pixel resolution. Each plane is refitted with all its inlier
pixels.

The per-pixel stages (cell moment sums, pixel assignment with the refit sums, label
numbering) run as compiled one-pass kernels when numba is installed
(:mod:`arkit.planes.depth_kernels`) and as vectorised numpy on a cell-major copy of the image
otherwise (:mod:`arkit.planes.depth_numpy`); both give the same planes.

>>> import numpy as np
>>> from arkit.core.camera import Intrinsics
>>> K = Intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5)
>>> depth = np.full((480, 640), 2.0, np.float32)          # a wall 2 m in front
>>> result = extract_planes(depth, K)
>>> len(result.planes), np.round(result.planes[0].normal, 3).tolist()[2], round(result.planes[0].offset, 3)
(1, -1.0, 2.0)
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field

import numpy as np

from arkit.core.camera import Intrinsics
from arkit.core.errors import FrameError, IntrinsicsError
from arkit.core.pose import readonly
from arkit.planes import depth_kernels, depth_numpy
from arkit.planes.cell_regions import _fit, dilated_pairs, grow_region_labels
from arkit.planes.depth_numpy import from_cells, to_cells

log = logging.getLogger(__name__)

#: Clock of ``timings_ms`` (wall clock; benchmarks may swap in ``time.process_time``).
_clock = time.perf_counter

#: With up to this many regions the kernels write a uint8 label image (mapped by ``cv2.LUT``).
_MAX_U8_REGIONS = 254

#: Depth values whose median is above this are taken to be in the wrong unit.
MAX_PLAUSIBLE_MEDIAN_DEPTH_M = 20.0


@dataclass(frozen=True)
class DepthPlaneParams:
    """Tuning of :func:`extract_planes` (defaults suit 640x480 Kinect-like depth).

    Parameters
    ----------
    cell_size_px : int
        Side of the square cells; 20 for VGA (CAPE's choice), 10 for QVGA.
    min_valid_fraction : float
        A cell needs this fraction of valid depth pixels to be fitted.
    noise_a_m, noise_b_per_m, noise_z0_m : float
        Axial depth noise model ``sigma(z) = a + b * (z - z0)**2`` (Nguyen et al. 2012, Kinect v1).
    cell_rms_factor : float
        A cell is planar when the RMS of its plane fit is below ``factor * sigma(z)``.
    merge_angle_deg : float
        Maximum angle between the normals of two adjacent cells (or two regions) to join them.
    merge_rms_factor : float
        Two cells (or regions) join when the RMS distance of their union to one plane is below
        ``factor * sigma(z)``; a region drops cells whose RMS to its plane is above that.
    min_plane_cells : int
        Regions with fewer planar cells are dropped.
    min_inliers_px : int
        Planes with fewer inlier pixels after refinement are dropped.
    inlier_factor : float
        A pixel is an inlier when its distance to the plane is below ``factor * sigma(z)``.
    """

    cell_size_px: int = 20
    min_valid_fraction: float = 0.5
    noise_a_m: float = 0.0012
    noise_b_per_m: float = 0.0019
    noise_z0_m: float = 0.4
    cell_rms_factor: float = 2.5
    merge_angle_deg: float = 20.0
    merge_rms_factor: float = 2.0
    min_plane_cells: int = 4
    min_inliers_px: int = 1500
    inlier_factor: float = 3.0

    def sigma_m(self, z):
        """Axial noise (metres) at depth ``z`` (any shape); never below ``noise_a_m``."""
        z = np.maximum(np.asarray(z), self.noise_z0_m)
        return self.noise_a_m + self.noise_b_per_m * (z - self.noise_z0_m) ** 2


@dataclass(frozen=True)
class DepthPlane:
    """One plane found in a depth image, in the camera frame (OpenCV axes).

    The plane is ``normal . p + offset = 0``; ``normal`` points towards the camera so
    ``offset`` (> 0) is the camera's distance to the plane.

    Parameters
    ----------
    normal : (3,) float64
        Unit normal, camera frame.
    offset : float
        Metres.
    num_inliers : int
    centroid : (3,) float64
        Mean of the inlier points, camera frame, metres.
    rms_m : float
        RMS point-to-plane distance of the inliers.

    Attributes
    ----------
    inlier_mask : (H, W) bool
        Pixels of this plane (read-only; computed from the label image on first access).
    """

    normal: np.ndarray
    offset: float
    num_inliers: int
    centroid: np.ndarray
    rms_m: float
    _labels: np.ndarray = field(default=None, repr=False, compare=False)
    _index: int = field(default=-1, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "normal", readonly(np.asarray(self.normal, np.float64).reshape(3)))
        object.__setattr__(self, "centroid", readonly(np.asarray(self.centroid, np.float64).reshape(3)))

    @classmethod
    def from_mask(cls, normal, offset: float, inlier_mask, centroid, rms_m: float = 0.0) -> "DepthPlane":
        """A plane with an explicit (H, W) bool inlier mask (e.g. from another extractor)."""
        m = np.asarray(inlier_mask, bool)
        if m.ndim != 2:
            raise FrameError(f"inlier_mask must be a 2-D (H, W) bool array, got shape {m.shape}")
        return cls(normal, float(offset), int(m.sum()), centroid, float(rms_m), _labels=m, _index=-1)

    @functools.cached_property
    def inlier_mask(self) -> np.ndarray:
        if self._labels is None:
            raise FrameError("this DepthPlane has no inlier mask; build it with DepthPlane.from_mask")
        m = np.array(self._labels, bool) if self._index < 0 else self._labels == self._index
        m.setflags(write=False)
        return m

    def inlier_pixels(self, step: int = 1) -> tuple:
        """``(rows, cols)`` of the inlier pixels on every ``step``-th row and column, in units of
        that grid: ``np.nonzero(inlier_mask[::step, ::step])`` without building the full mask."""
        if self._labels is not None and self._index >= 0 and "inlier_mask" not in self.__dict__:
            return np.nonzero(self._labels[::step, ::step] == self._index)
        return np.nonzero(self.inlier_mask[::step, ::step])

    def distance(self, points) -> np.ndarray:
        """Signed distances (N,) of camera-frame points (N, 3) to the plane."""
        return np.asarray(points, np.float64).reshape(-1, 3) @ self.normal + self.offset


@dataclass(frozen=True)
class DepthPlaneResult:
    """All planes of one depth image.

    Parameters
    ----------
    planes : tuple of DepthPlane
        Largest first.
    labels : (H, W) int16
        Index into ``planes`` per pixel, -1 where no plane (read-only).
    timings_ms : dict
        Stage name -> milliseconds.
    """

    planes: tuple
    labels: np.ndarray
    timings_ms: dict = field(default_factory=dict)


def _check_depth(depth_m, intrinsics: Intrinsics) -> None:
    """Raise a clear error unless ``depth_m`` is a 2-D float array of the intrinsics' size."""
    if not isinstance(intrinsics, Intrinsics):
        raise IntrinsicsError(f"intrinsics must be an arkit.Intrinsics, got {type(intrinsics).__name__}")
    if not isinstance(depth_m, np.ndarray):
        raise FrameError(f"depth must be a numpy array (H, W) float32 metres, got {type(depth_m).__name__}")
    if depth_m.ndim != 2:
        raise FrameError(f"depth must be a 2-D (H, W) array of metres, got shape {depth_m.shape}")
    if not np.issubdtype(depth_m.dtype, np.floating):
        raise FrameError(
            f"depth must be float metres, got dtype {depth_m.dtype}; convert raw sensor values first "
            "(e.g. uint16 / 1000 for Kinect, / 5000 for TUM)"
        )
    intrinsics.check_image(depth_m, what="depth image")


class DepthPlaneExtractor:
    """Plane extractor bound to one camera (rays and cell layout are computed once).

    Parameters
    ----------
    intrinsics : Intrinsics
        Of the depth image (distortion is honoured through :meth:`Intrinsics.unproject`).
    params : DepthPlaneParams, optional

    Attributes
    ----------
    kernels : namespace or None
        The numba kernels (:func:`arkit.planes.depth_kernels.load`) used for the per-pixel
        stages and region growing, or None for the numpy path (numba missing, or the
        environment variable ``ARKIT_NO_NUMBA=1`` when the extractor was built).

    >>> from arkit.core.camera import Intrinsics
    >>> ex = DepthPlaneExtractor(Intrinsics(320, 240, 262.5, 262.5, 159.5, 119.5), DepthPlaneParams(cell_size_px=10))
    >>> ex(np.zeros((240, 320), np.float32)).planes
    ()
    """

    def __init__(self, intrinsics: Intrinsics, params: DepthPlaneParams | None = None):
        if not isinstance(intrinsics, Intrinsics):
            raise IntrinsicsError(f"intrinsics must be an arkit.Intrinsics, got {type(intrinsics).__name__}")
        self.intrinsics = intrinsics
        self.params = params or DepthPlaneParams()
        cs = int(self.params.cell_size_px)
        if cs < 2:
            raise FrameError(f"cell_size_px must be at least 2, got {cs}")
        W, H = intrinsics.width, intrinsics.height
        self.grid = (H // cs, W // cs)
        if min(self.grid) < 1:
            raise FrameError(f"a {W}x{H} depth image is smaller than one {cs}x{cs} cell; use a smaller cell_size_px")
        u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
        rays = intrinsics.unproject(np.stack([u.ravel(), v.ravel()], 1))
        rx = rays[:, 0].reshape(H, W).astype(np.float32)
        ry = rays[:, 1].reshape(H, W).astype(np.float32)
        #: compiled kernels (:mod:`arkit.planes.depth_kernels`), or None for the numpy path
        self.kernels = depth_kernels.load()
        if self.kernels is not None:                       # kernels read the image layout
            self._rx, self._ry = rx, ry
        else:                                              # numpy works cell-major
            self._rx, self._ry = to_cells(rx, cs, self.grid), to_cells(ry, cs, self.grid)

    # -- main entry ---------------------------------------------------------------------------
    def __call__(self, depth_m: np.ndarray) -> DepthPlaneResult:
        return self.extract(depth_m)

    def extract(self, depth_m: np.ndarray) -> DepthPlaneResult:
        """Find the planes of one depth image.

        Parameters
        ----------
        depth_m : (H, W) float32
            Metres, 0 (or NaN / inf / negative) = invalid.

        Returns
        -------
        DepthPlaneResult
            ``timings_ms`` has the stages ``moments``, ``cell_fit``, ``regions``, ``pixels``
            (pixel assignment and refit sums), ``planes`` (final fits and label image), ``total``.

        Raises
        ------
        FrameError
            Not a 2-D float array, or the depth looks like millimetres (median > 20 m).
        IntrinsicsError
            The size does not match the intrinsics.
        """
        t0 = _clock()
        p = self.params
        kern = self.kernels
        cs = p.cell_size_px
        Hc, Wc = self.grid
        _check_depth(depth_m, self.intrinsics)
        H, W = depth_m.shape
        empty = DepthPlaneResult((), np.full((H, W), -1, np.int16), {"total": 0.0})

        # 1. cell moments --------------------------------------------------------------------
        depth = np.ascontiguousarray(depth_m, dtype=np.float32)
        med = _median_valid_depth(depth)
        if med is None:
            return empty
        if med > MAX_PLAUSIBLE_MEDIAN_DEPTH_M:
            raise FrameError(
                f"median depth is {med:.1f} m: the depth is probably in millimetres (or raw sensor units); "
                "pass float32 metres (e.g. uint16 / 1000 for Kinect, / 5000 for TUM)"
            )
        if kern is not None:
            S = kern.cell_moments(depth, self._rx, self._ry, cs, Hc, Wc)   # (Ncell, 10) float64
        else:
            S, Z = depth_numpy.cell_moments(depth, self._rx, self._ry, cs, self.grid)
        n = S[:, 0]
        t1 = _clock()

        # 2. per-cell planes -----------------------------------------------------------------
        Ncell = Hc * Wc
        fit_cells = np.flatnonzero(n >= p.min_valid_fraction * cs * cs)
        normal = np.zeros((Ncell, 3))
        offset = np.zeros(Ncell)
        mean = np.zeros((Ncell, 3))
        planar = np.zeros(Ncell, bool)
        if len(fit_cells):
            nrm, off, mu, lam = _fit(S[fit_cells], None, kern)
            rms = np.sqrt(np.maximum(lam[:, 0], 0.0))
            ok = (rms < p.cell_rms_factor * p.sigma_m(mu[:, 2])) & (lam[:, 1] > 2.0 * lam[:, 0])
            normal[fit_cells], offset[fit_cells], mean[fit_cells] = nrm, off, mu
            planar[fit_cells] = ok
        t2 = _clock()

        # 3. regions over the cell grid ------------------------------------------------------
        own, nR, oR = grow_region_labels(planar, normal, mean, S, self.grid, p, kern)
        t3 = _clock()
        if len(nR) == 0:
            empty.timings_ms.update(moments=1e3 * (t1 - t0), total=1e3 * (_clock() - t0))
            return empty

        # 4. pixel-level assignment. A region's own cells that no other region reaches are
        # taken whole (as CAPE); the pixels of every other (cell, region) pair of the regions'
        # dilated cells are tested against the plane and go to the closest one; the moment
        # sums of each region's inliers are collected on the way.
        R = len(nR)
        pc, pr = dilated_pairs(own, R, self.grid)                 # (cell, region), sorted by cell
        cover = np.bincount(pc, minlength=Ncell)
        whole = (own[pc] == pr) & (cover[pc] == 1)
        if kern is not None:
            starts = np.flatnonzero(np.r_[True, pc[1:] != pc[:-1]])
            lab = np.zeros((H, W), np.uint8 if R <= _MAX_U8_REGIONS else np.int16)   # region + 1, 0 = none
            SR = np.zeros((R, 10))
            tot = np.zeros(R)
            kern.assign_pixels(depth, self._rx, self._ry, cs, Wc, pc, pr, starts, whole, S, nR, oR,
                               p.inlier_factor * p.noise_a_m, p.inlier_factor * p.noise_b_per_m,
                               p.noise_z0_m, lab, SR, tot)
        else:
            SR, tot, lab = depth_numpy.assign_pixels(Z, self._rx, self._ry, S, pc, pr, whole, nR, oR, p)
        keep = np.flatnonzero(tot >= p.min_inliers_px)
        keep = keep[np.argsort(-tot[keep], kind="stable")]
        t4 = _clock()

        # 5. final planes and the label image, numbered largest first (remap[-1] = -1) --------
        remap = np.full(R + 1, -1, np.int16)
        remap[keep] = np.arange(len(keep), dtype=np.int16)
        if kern is not None:
            lut = np.full(max(R + 1, 256), -1, np.int16)            # lut[region + 1]; lut[0] = -1
            lut[1:R + 1] = remap[:R]
            if lab.dtype == np.uint8:
                import cv2

                labels_img = cv2.LUT(lab, lut[:256])
            else:
                labels_img = lut[lab]
        else:
            touched = np.unique(pc)
            lab[touched] = remap[lab[touched]]
            labels_img = from_cells(lab, cs, self.grid, (H, W), -1)
        labels_img.setflags(write=False)
        planes = []
        if len(keep):
            nrm, off, mu, lam = _fit(SR[keep], nR[keep], kern)
            for j, k in enumerate(keep):
                planes.append(DepthPlane(nrm[j], float(off[j]), int(tot[k]), mu[j],
                                         float(np.sqrt(max(lam[j, 0], 0.0))), _labels=labels_img, _index=j))
        t5 = _clock()
        timings = {"moments": 1e3 * (t1 - t0), "cell_fit": 1e3 * (t2 - t1), "regions": 1e3 * (t3 - t2),
                   "pixels": 1e3 * (t4 - t3), "planes": 1e3 * (t5 - t4), "total": 1e3 * (t5 - t0)}
        return DepthPlaneResult(tuple(planes), labels_img, timings)


def extract_planes(depth_m: np.ndarray, intrinsics: Intrinsics, params: DepthPlaneParams | None = None) -> DepthPlaneResult:
    """One-shot :class:`DepthPlaneExtractor` call (build the extractor once for a video)."""
    return DepthPlaneExtractor(intrinsics, params).extract(depth_m)


# -- helpers ----------------------------------------------------------------------------------
#: The numpy cell moment sums (kept under their old name for callers and tests).
_moment_sums = depth_numpy.moment_sums


def _median_valid_depth(depth: np.ndarray):
    """Median of the valid (0 < z < inf) depth values, from a ~4000-pixel sample; None if none is valid."""
    sub = depth[::11, ::7]
    sub = sub[(sub > 0) & (sub < np.inf)]
    if len(sub) == 0:
        sub = depth[(depth > 0) & (depth < np.inf)]
        if len(sub) == 0:
            return None
    return float(np.median(sub))
