"""Fast plane extraction from one organised depth image (PEAC / CAPE style).

The image is cut into square cells; every cell gets a least-squares plane from its moment
sums (one batched ``eigh``); cells whose residual is above a Kinect-like depth-noise model are
rejected; adjacent cells with agreeing planes are joined into regions (connected components
over the cell grid), coplanar neighbouring regions are merged, and finally every pixel of a
region's cells and of the ring of cells around it is tested against the region's plane, so
plane boundaries are found at pixel resolution. Each plane is refitted with all its inlier
pixels.

Everything works on a cell-major copy of the depth image so that per-cell sums are
contiguous reductions and per-plane pixel tests only touch the cells they need.

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
from arkit.planes.cell_regions import dilated_pairs, grow_regions, region_sums
from arkit.planes.plane_fit import fit_planes_from_moments

log = logging.getLogger(__name__)

#: Clock of ``timings_ms`` (wall clock; benchmarks may swap in ``time.process_time``).
_clock = time.perf_counter

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
        self._rx = self._to_cells(rays[:, 0].reshape(H, W).astype(np.float32))
        self._ry = self._to_cells(rays[:, 1].reshape(H, W).astype(np.float32))

    # -- layout -------------------------------------------------------------------------------
    def _to_cells(self, img: np.ndarray) -> np.ndarray:
        """(H, W) -> (Hc*Wc, cs*cs) cell-major copy (the bottom/right remainder is dropped)."""
        cs = self.params.cell_size_px
        Hc, Wc = self.grid
        a = img[: Hc * cs, : Wc * cs].reshape(Hc, cs, Wc, cs).transpose(0, 2, 1, 3)
        return np.ascontiguousarray(a).reshape(Hc * Wc, cs * cs)

    def _from_cells(self, cells: np.ndarray, fill) -> np.ndarray:
        cs = self.params.cell_size_px
        Hc, Wc = self.grid
        H, W = self.intrinsics.height, self.intrinsics.width
        img = cells.reshape(Hc, Wc, cs, cs).transpose(0, 2, 1, 3).reshape(Hc * cs, Wc * cs)
        if (Hc * cs, Wc * cs) == (H, W):
            return img
        out = np.full((H, W), fill, dtype=cells.dtype)
        out[: Hc * cs, : Wc * cs] = img
        return out

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

        Raises
        ------
        FrameError
            Not a 2-D float array, or the depth looks like millimetres (median > 20 m).
        IntrinsicsError
            The size does not match the intrinsics.
        """
        t0 = _clock()
        p = self.params
        _check_depth(depth_m, self.intrinsics)
        H, W = depth_m.shape
        empty = DepthPlaneResult((), np.full((H, W), -1, np.int16), {"total": 0.0})

        # 1. cell moments --------------------------------------------------------------------
        Z = self._to_cells(depth_m.astype(np.float32, copy=False))   # a copy, cell-major
        lo, hi = float(Z.min()), float(Z.max())                       # NaN, inf, negative: invalid
        if not (np.isfinite(lo) and np.isfinite(hi)):
            np.nan_to_num(Z, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            lo = float(Z.min())
        if lo < 0:
            np.maximum(Z, 0.0, out=Z)
        sub = Z[::11, ::7]                                            # ~4000 samples
        sub = sub[sub > 0]
        if len(sub) == 0:
            sub = Z[Z > 0]
            if len(sub) == 0:
                return empty
        med = float(np.median(sub))
        if med > MAX_PLAUSIBLE_MEDIAN_DEPTH_M:
            raise FrameError(
                f"median depth is {med:.1f} m: the depth is probably in millimetres (or raw sensor units); "
                "pass float32 metres (e.g. uint16 / 1000 for Kinect, / 5000 for TUM)"
            )
        X = self._rx * Z
        Y = self._ry * Z
        cs2 = Z.shape[1]
        S = _moment_sums(X, Y, Z, overwrite_xy=True)      # (Ncell, 10) float64; X, Y are scratch now
        del X, Y
        n = S[:, 0]
        t1 = _clock()

        # 2. per-cell planes -----------------------------------------------------------------
        Ncell = Z.shape[0]
        fit_cells = np.flatnonzero(n >= p.min_valid_fraction * cs2)
        normal = np.zeros((Ncell, 3))
        offset = np.zeros(Ncell)
        mean = np.zeros((Ncell, 3))
        planar = np.zeros(Ncell, bool)
        if len(fit_cells):
            nrm, off, mu, lam = fit_planes_from_moments(S[fit_cells])
            rms = np.sqrt(np.maximum(lam[:, 0], 0.0))
            ok = (rms < p.cell_rms_factor * p.sigma_m(mu[:, 2])) & (lam[:, 1] > 2.0 * lam[:, 0])
            normal[fit_cells], offset[fit_cells], mean[fit_cells] = nrm, off, mu
            planar[fit_cells] = ok
        t2 = _clock()

        # 3. regions over the cell grid ------------------------------------------------------
        regions = grow_regions(planar, normal, mean, S, self.grid, p)
        t3 = _clock()
        if not regions:
            empty.timings_ms.update(moments=1e3 * (t1 - t0), total=1e3 * (_clock() - t0))
            return empty

        # 4. pixel-level assignment. A region's own cells that no other region reaches are
        # taken whole (as CAPE); the pixels of every other (cell, region) pair of the regions'
        # dilated cells are tested against the plane and go to the closest one.
        R = len(regions)
        own = np.full(Z.shape[0], -1)
        for r, (cells, _, _) in enumerate(regions):
            own[cells] = r
        pc, pr = dilated_pairs(own, R, self.grid)                 # (cell, region), sorted by cell
        cover = np.bincount(pc, minlength=Z.shape[0])
        whole = (own[pc] == pr) & (cover[pc] == 1)
        wc, wr = pc[whole], pr[whole]
        pc, pr = pc[~whole], pr[~whole]
        nR = np.array([r[1] for r in regions], np.float32)
        oR = np.array([r[2] for r in regions], np.float32)
        Zp = Z[pc]
        new_cell = np.r_[True, pc[1:] != pc[:-1]] if len(pc) else np.zeros(0, bool)
        starts = np.flatnonzero(new_cell)
        group = np.cumsum(new_cell) - 1
        # 1 / threshold once per cell (several pairs share a cell); inf on invalid pixels
        Zu = Z[pc[starts]]
        inv_thr = _cell_sigma(Zu, p)
        np.reciprocal(inv_thr, out=inv_thr)
        inv_thr[Zu <= 0] = np.inf
        ratio = self._rx[pc] * nR[pr, 0:1]
        ratio += self._ry[pc] * nR[pr, 1:2]
        ratio += nR[pr, 2:3]
        ratio *= Zp
        ratio += oR[pr, None]
        np.abs(ratio, out=ratio)
        ratio *= inv_thr[group]
        if len(pc):
            # per cell, the closest region below threshold; pairs are sorted by cell, so the
            # j-th pair of every cell is handled at once (j < number of regions reaching a cell)
            rank = np.arange(len(pc)) - starts[group]
            best = ratio[starts]
            lab_hit = np.where(best < 1.0, pr[starts, None].astype(np.int16), np.int16(-1))
            for j in range(1, int(rank.max()) + 1):
                rows = np.flatnonzero(rank == j)
                g = group[rows]
                rj = ratio[rows]
                better = rj < best[g]
                best[g] = np.where(better, rj, best[g])
                lab_hit[g] = np.where(better & (rj < 1.0), pr[rows, None].astype(np.int16), lab_hit[g])
        t4 = _clock()

        # 5. refit each region with its inlier pixels --------------------------------------
        tot = np.bincount(wr, weights=n[wc], minlength=R)
        SR = region_sums(S[wc], wr, R)
        if len(pc):
            inl = lab_hit[group] == pr[:, None]                    # (pairs, cs*cs)
            cnt = inl.sum(axis=1)
            tot += np.bincount(pr, weights=cnt, minlength=R)
            full = (cnt == n[pc]) & (cnt > 0)
            part = np.flatnonzero(~full & (cnt > 0))
            SR += region_sums(S[pc[full]], pr[full], R)
            if len(part):
                q = pc[part]
                Zq = Zp[part]
                shift = S[q, 1:4] / np.maximum(n[q], 1.0)[:, None]      # centre on the cell's mean
                SR += region_sums(_moment_sums(self._rx[q] * Zq, self._ry[q] * Zq, Zq, inl[part].astype(np.float32),
                                               overwrite_xy=True, shift=shift), pr[part], R)
        keep = np.flatnonzero(tot >= p.min_inliers_px)
        keep = keep[np.argsort(-tot[keep], kind="stable")]
        t5 = _clock()
        # the label image is written once, with the final plane numbers (remap[-1] = -1)
        remap = np.full(R + 1, -1, np.int16)
        remap[keep] = np.arange(len(keep), dtype=np.int16)
        lab = np.full(Z.shape, -1, np.int16)
        lab[wc] = np.where(Z[wc] > 0, remap[wr][:, None], np.int16(-1))
        if len(pc):
            lab[pc[starts]] = remap[lab_hit]
        labels_img = self._from_cells(lab, -1)
        labels_img.setflags(write=False)
        planes = []
        if len(keep):
            ref = nR[keep].astype(np.float64)
            nrm, off, mu, lam = fit_planes_from_moments(SR[keep], reference_normals=ref)
            for j, k in enumerate(keep):
                planes.append(DepthPlane(nrm[j], float(off[j]), int(tot[k]), mu[j],
                                         float(np.sqrt(max(lam[j, 0], 0.0))), _labels=labels_img, _index=j))
        t6 = _clock()
        timings = {"moments": 1e3 * (t1 - t0), "cell_fit": 1e3 * (t2 - t1), "regions": 1e3 * (t3 - t2),
                   "pixels": 1e3 * (t4 - t3), "refit": 1e3 * (t5 - t4), "labels": 1e3 * (t6 - t5),
                   "total": 1e3 * (t6 - t0)}
        return DepthPlaneResult(tuple(planes), labels_img, timings)


def extract_planes(depth_m: np.ndarray, intrinsics: Intrinsics, params: DepthPlaneParams | None = None) -> DepthPlaneResult:
    """One-shot :class:`DepthPlaneExtractor` call (build the extractor once for a video)."""
    return DepthPlaneExtractor(intrinsics, params).extract(depth_m)


# -- helpers ----------------------------------------------------------------------------------
def _moment_sums(X, Y, Z, w=None, overwrite_xy=False, shift=None) -> np.ndarray:
    """Per-cell sums [n, x, y, z, xx, xy, xz, yy, yz, zz] (Ncell, 10) float64 from cell-major arrays.

    ``w`` (Ncell, cs*cs) float32 0/1 selects the pixels (default: valid depth, Z > 0).
    ``overwrite_xy=True`` lets the function use ``X`` and ``Y`` as scratch (saves two copies).
    ``shift`` (Ncell, 3), a point near each cell's selected points (e.g. the mean of all its
    pixels), saves the pass that computes the exact means.

    Second moments are accumulated about each cell's mean (float32 products of small numbers)
    and shifted back in float64, so the covariance keeps sub-millimetre precision."""
    N, cs2 = Z.shape
    S = np.empty((N, 10))
    ones = np.ones(cs2, np.float32)
    v = (Z > 0).astype(np.float32) if w is None else w
    # row sums as float32 matrix-vector products (BLAS, several times faster than ndarray.sum
    # with a float64 accumulator); their rounding cancels in the covariance, see below
    n = (v @ ones).astype(np.float64)
    S[:, 0] = n
    if shift is None:
        if w is not None:
            X, Y, Z = X * w, Y * w, Z * w
            overwrite_xy = True
        S[:, 1] = X @ ones
        S[:, 2] = Y @ ones
        S[:, 3] = Z @ ones
        mu = (S[:, 1:4] / np.maximum(n, 1.0)[:, None]).astype(np.float32)
    else:
        mu = np.asarray(shift, np.float32)
    # centre in place: (a - m) * v  (invalid / unselected pixels become exactly 0)
    if not overwrite_xy:
        X, Y = X.copy(), Y.copy()
    Xc = np.subtract(X, mu[:, 0:1], out=X)
    Xc *= v
    Yc = np.subtract(Y, mu[:, 1:2], out=Y)
    Yc *= v
    Zc = np.subtract(Z, mu[:, 2:3], out=Z if (w is not None and shift is None) else None)
    Zc *= v
    if shift is not None:                 # first sums = sums about the shift + n * shift
        S[:, 1] = Xc @ ones
        S[:, 2] = Yc @ ones
        S[:, 3] = Zc @ ones
        S[:, 1:4] += n[:, None] * mu
    c = np.empty((N, 6))
    c[:, 0] = np.einsum("ij,ij->i", Xc, Xc)
    c[:, 1] = np.einsum("ij,ij->i", Xc, Yc)
    c[:, 2] = np.einsum("ij,ij->i", Xc, Zc)
    c[:, 3] = np.einsum("ij,ij->i", Yc, Yc)
    c[:, 4] = np.einsum("ij,ij->i", Yc, Zc)
    c[:, 5] = np.einsum("ij,ij->i", Zc, Zc)
    # sum (a - m)(b - m') about the float32 mean m -> raw sums: + m*Sb + m'*Sa - n m m'
    m = mu.astype(np.float64)
    for k, (i, j) in enumerate(((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))):
        S[:, 4 + k] = c[:, k] + m[:, i] * S[:, 1 + j] + m[:, j] * S[:, 1 + i] - n * m[:, i] * m[:, j]
    return S


def _cell_sigma(Z, p: DepthPlaneParams) -> np.ndarray:
    """Per-pixel inlier threshold ``inlier_factor * sigma(z)`` (cell-major float32)."""
    s = np.maximum(Z, np.float32(p.noise_z0_m))
    s -= np.float32(p.noise_z0_m)
    s *= s
    s *= np.float32(p.inlier_factor * p.noise_b_per_m)
    s += np.float32(p.inlier_factor * p.noise_a_m)
    return s
