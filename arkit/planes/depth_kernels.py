"""Compiled (numba) pixel kernels of :mod:`arkit.planes.depth_extractor`.

The per-pixel stages of the extractor (cell moment sums, the pixel-level plane assignment with
the refit sums) are memory-bound loops over the whole image; as
numpy expressions they cost some 40 passes over a 640x480 array plus a cell-major copy. These
kernels do each stage in one pass over the image in its own layout, with float64 accumulators.

numba is optional: :func:`load` returns ``None`` when it is missing (or when the environment
variable ``ARKIT_NO_NUMBA`` is set to a non-empty value other than ``0``), and the extractor then
uses its numpy implementation (:mod:`arkit.planes.depth_numpy`), which gives the same planes.
Kernels are compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import logging
import os
import types

log = logging.getLogger(__name__)

_loaded = None          # None: not tried yet; False: unavailable; else a namespace of kernels


def load():
    """The compiled kernels (a namespace with ``cell_moments``, ``assign_pixels``, ``fit_planes``, ``mse_to_planes``) or ``None``."""
    global _loaded
    if os.environ.get("ARKIT_NO_NUMBA", "") not in ("", "0"):
        return None
    if _loaded is None:
        try:
            _loaded = _build()
        except ImportError as exc:                       # numba missing or broken: numpy path
            log.info("numba unavailable (%s); plane extraction uses its numpy path", exc)
            _loaded = False
    return _loaded or None


def _build():
    import numba as nb
    import numpy as np

    # reassociation lets LLVM vectorise the sums; no "nnan"/"ninf": the validity tests need NaN / inf
    jit = nb.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract", "nsz", "arcp"})

    @jit
    def cell_moments(depth, rx, ry, cs, Hc, Wc):
        """Moment sums (Hc*Wc, 10) float64 of the valid pixels (0 < z < inf) of every cs x cs cell.

        depth, rx, ry : (H, W) float32 (depth metres; x = rx * z, y = ry * z). Raw float64 sums
        (no centring needed at float64 precision). Each row of cells is summed down its cs image
        rows into per-column accumulators first (contiguous, vectorisable), then across."""
        S = np.zeros((Hc * Wc, 10))
        W = Wc * cs
        acc = np.zeros((10, W))
        for ci in range(Hc):
            acc[:] = 0.0
            for v in range(ci * cs, ci * cs + cs):
                dv = depth[v]
                rxv = rx[v]
                ryv = ry[v]
                for u in range(W):
                    z = np.float64(dv[u])
                    ok = (z > 0.0) & (z < np.inf)          # NaN compares false
                    z = z if ok else 0.0
                    x = rxv[u] * z
                    y = ryv[u] * z
                    acc[0, u] += 1.0 if ok else 0.0
                    acc[1, u] += x
                    acc[2, u] += y
                    acc[3, u] += z
                    acc[4, u] += x * x
                    acc[5, u] += x * y
                    acc[6, u] += x * z
                    acc[7, u] += y * y
                    acc[8, u] += y * z
                    acc[9, u] += z * z
            for cj in range(Wc):
                k = ci * Wc + cj
                for m in range(10):
                    t = 0.0
                    for u in range(cj * cs, cj * cs + cs):
                        t += acc[m, u]
                    S[k, m] = t
        return S

    @jit
    def assign_pixels(depth, rx, ry, cs, Wc, pc, pr, starts, whole, S, nR, oR,
                      thr_a, thr_b, z0, labels, SR, tot):
        """Label the pixels of the (cell, region) pairs and sum the inliers' moments per region.

        pc, pr : (P,) int64 pairs sorted by cell; starts (G,) first pair of each cell; whole (P,)
        bool: the cell is taken whole (all valid pixels, its sums S[cell]). Otherwise a valid pixel
        goes to the closest region of its cell when ``|n . p + d| < thr_a + thr_b * (max(z, z0) -
        z0)**2``. Writes region number + 1 into labels (H, W) uint8 or int16 (preset 0 = none),
        adds to SR (R, 10) and tot (R,).

        The image is walked row by row (streaming memory access; a cell-by-cell walk jumps
        between rows and stalls on memory); each pair's sums are kept about its cell's mean."""
        P = pc.shape[0]
        G = starts.shape[0]
        Hc = labels.shape[0] // cs
        gend = np.empty(G, np.int64)
        group = np.full(Hc * Wc, -1, np.int64)
        cm = np.zeros((G, 3))
        for g in range(G):
            s = starts[g]
            gend[g] = starts[g + 1] if g + 1 < G else P
            cell = pc[s]
            group[cell] = g
            nc = max(S[cell, 0], 1.0)
            cm[g, 0] = S[cell, 1] / nc
            cm[g, 1] = S[cell, 2] / nc
            cm[g, 2] = S[cell, 3] / nc
            if gend[g] - s == 1 and whole[s]:
                r = pr[s]
                for k in range(10):
                    SR[r, k] += S[cell, k]
                tot[r] += S[cell, 0]
        acc = np.zeros((P, 10))
        for v in range(Hc * cs):
            ci = v // cs
            dv = depth[v]
            rxv = rx[v]
            ryv = ry[v]
            lv = labels[v]
            for cj in range(Wc):
                g = group[ci * Wc + cj]
                if g < 0:
                    continue
                s = starts[g]
                e = gend[g]
                u0 = cj * cs
                if e - s == 1 and whole[s]:
                    lab = pr[s] + 1
                    for u in range(u0, u0 + cs):
                        z = dv[u]
                        if z > 0.0 and z < np.inf:
                            lv[u] = lab
                    continue
                mx, my, mz = cm[g, 0], cm[g, 1], cm[g, 2]
                for u in range(u0, u0 + cs):
                    z = np.float64(dv[u])
                    if not (z > 0.0 and z < np.inf):
                        continue
                    x = rxv[u] * z
                    y = ryv[u] * z
                    zc = max(z, z0) - z0
                    best = thr_a + thr_b * zc * zc
                    bq = -1
                    for q in range(s, e):
                        r = pr[q]
                        d = abs(nR[r, 0] * x + nR[r, 1] * y + nR[r, 2] * z + oR[r])
                        if d < best:
                            best = d
                            bq = q
                    if bq < 0:
                        continue
                    lv[u] = pr[bq] + 1
                    dx, dy, dz = x - mx, y - my, z - mz
                    acc[bq, 0] += 1.0
                    acc[bq, 1] += dx
                    acc[bq, 2] += dy
                    acc[bq, 3] += dz
                    acc[bq, 4] += dx * dx
                    acc[bq, 5] += dx * dy
                    acc[bq, 6] += dx * dz
                    acc[bq, 7] += dy * dy
                    acc[bq, 8] += dy * dz
                    acc[bq, 9] += dz * dz
        for g in range(G):                             # pair sums about the cell mean -> raw sums
            mx, my, mz = cm[g, 0], cm[g, 1], cm[g, 2]
            for q in range(starts[g], gend[g]):
                a = acc[q]
                n = a[0]
                if n == 0.0:
                    continue
                r = pr[q]
                tot[r] += n
                SR[r, 0] += n
                SR[r, 1] += a[1] + n * mx
                SR[r, 2] += a[2] + n * my
                SR[r, 3] += a[3] + n * mz
                SR[r, 4] += a[4] + 2.0 * mx * a[1] + n * mx * mx
                SR[r, 5] += a[5] + mx * a[2] + my * a[1] + n * mx * my
                SR[r, 6] += a[6] + mx * a[3] + mz * a[1] + n * mx * mz
                SR[r, 7] += a[7] + 2.0 * my * a[2] + n * my * my
                SR[r, 8] += a[8] + my * a[3] + mz * a[2] + n * my * mz
                SR[r, 9] += a[9] + 2.0 * mz * a[3] + n * mz * mz

    @jit
    def fit_planes(S, ref):
        """:func:`arkit.planes.plane_fit.fit_planes_from_moments` for many small point sets.

        S (N, 10) float64 moment sums; ref (N, 3) reference normals, or (0, 3) to orient the
        normals towards the origin. The same closed form as ``plane_fit._eigh_smallest6``
        (trigonometric eigenvalues, eigenvector from the longest cross product of two rows of
        ``C - lambda_min I``), one matrix at a time. Returns normal (N, 3), offset (N,),
        mean (N, 3), ascending eigenvalues (N, 3)."""
        N = S.shape[0]
        nrm = np.empty((N, 3))
        off = np.empty(N)
        mu = np.empty((N, 3))
        w = np.empty((N, 3))
        for k in range(N):
            n = max(S[k, 0], 1e-12)
            mx, my, mz = S[k, 1] / n, S[k, 2] / n, S[k, 3] / n
            xx = S[k, 4] / n - mx * mx
            d = S[k, 5] / n - mx * my
            e = S[k, 6] / n - mx * mz
            yy = S[k, 7] / n - my * my
            f = S[k, 8] / n - my * mz
            zz = S[k, 9] / n - mz * mz
            q = (xx + yy + zz) / 3.0
            a, b, c = xx - q, yy - q, zz - q
            p = np.sqrt((a * a + b * b + c * c + 2.0 * (d * d + e * e + f * f)) / 6.0)
            ps = p if p > 0.0 else 1.0
            r = 0.5 * (a * (b * c - f * f) - d * (d * c - f * e) + e * (d * f - b * e)) / (ps * ps * ps)
            phi = np.arccos(min(max(r, -1.0), 1.0)) / 3.0
            l_max = q + 2.0 * p * np.cos(phi)
            l_min = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
            w[k, 0] = l_min
            w[k, 1] = 3.0 * q - l_max - l_min
            w[k, 2] = l_max
            sh = q - l_min
            a_, b_, c_ = a + sh, b + sh, c + sh
            # rows of C - l_min I: (a_, d, e), (d, b_, f), (e, f, c_); v is orthogonal to all three
            vx, vy, vz = d * f - e * b_, e * d - a_ * f, a_ * b_ - d * d
            best = vx * vx + vy * vy + vz * vz
            tx, ty, tz = d * c_ - e * f, e * e - a_ * c_, a_ * f - d * e
            t = tx * tx + ty * ty + tz * tz
            if t > best:
                vx, vy, vz, best = tx, ty, tz, t
            tx, ty, tz = b_ * c_ - f * f, f * e - d * c_, d * f - b_ * e
            t = tx * tx + ty * ty + tz * tz
            if t > best:
                vx, vy, vz, best = tx, ty, tz, t
            nv = np.sqrt(best)
            if nv < 1e-300:
                vx, vy, vz = 0.0, 0.0, 1.0
            else:
                vx, vy, vz = vx / nv, vy / nv, vz / nv
            if ref.shape[0] > 0:
                flip = vx * ref[k, 0] + vy * ref[k, 1] + vz * ref[k, 2] < 0.0
            else:
                flip = vx * mx + vy * my + vz * mz > 0.0       # towards the origin (the camera)
            if flip:
                vx, vy, vz = -vx, -vy, -vz
            nrm[k, 0], nrm[k, 1], nrm[k, 2] = vx, vy, vz
            mu[k, 0], mu[k, 1], mu[k, 2] = mx, my, mz
            off[k] = -(vx * mx + vy * my + vz * mz)
        return nrm, off, mu, w

    @jit
    def mse_to_planes(S, nrm, off):
        """Mean squared distance (N,) of point sets with moment sums S (N, 10) to planes (N, 3), (N,)."""
        N = S.shape[0]
        out = np.empty(N)
        for k in range(N):
            n = max(S[k, 0], 1e-12)
            mx, my, mz = S[k, 1] / n, S[k, 2] / n, S[k, 3] / n
            x, y, z = nrm[k, 0], nrm[k, 1], nrm[k, 2]
            quad = (x * x * (S[k, 4] / n - mx * mx) + y * y * (S[k, 7] / n - my * my)
                    + z * z * (S[k, 9] / n - mz * mz)
                    + 2.0 * (x * y * (S[k, 5] / n - mx * my) + x * z * (S[k, 6] / n - mx * mz)
                             + y * z * (S[k, 8] / n - my * mz)))
            dist = x * mx + y * my + z * mz + off[k]
            out[k] = quad + dist * dist
        return out

    return types.SimpleNamespace(cell_moments=cell_moments, assign_pixels=assign_pixels, fit_planes=fit_planes,
                                 mse_to_planes=mse_to_planes)
