"""Per-cell moment sums of the depth extractor against float64 sums of the same points."""

import numpy as np

from arkit.planes.depth_extractor import _moment_sums
from arkit.planes.plane_fit import fit_planes_from_moments, moments_of_points


def _cells(seed=0, N=40, cs2=400):
    rng = np.random.default_rng(seed)
    rx = rng.uniform(-0.6, 0.6, (N, 1)).astype(np.float32) + rng.uniform(-0.02, 0.02, (N, cs2)).astype(np.float32)
    ry = rng.uniform(-0.5, 0.5, (N, 1)).astype(np.float32) + rng.uniform(-0.02, 0.02, (N, cs2)).astype(np.float32)
    Z = (rng.uniform(0.5, 4.0, (N, 1)) + 0.1 * rx + 0.05 * ry + rng.normal(0, 0.002, (N, cs2))).astype(np.float32)
    Z[rng.random((N, cs2)) < 0.2] = 0.0                        # holes
    return rx, ry, Z, rng


def _reference(rx, ry, Z, w):
    out = []
    for i in range(len(Z)):
        m = w[i] > 0
        P = np.stack([rx[i][m], ry[i][m], np.ones(m.sum(), np.float32)], 1).astype(np.float64) * Z[i][m, None]
        out.append(moments_of_points(P))
    return np.array(out)


def test_moment_sums_match_float64_reference():
    rx, ry, Z, rng = _cells()
    S = _moment_sums(rx * Z, ry * Z, Z.copy())
    ref = _reference(rx, ry, Z, (Z > 0).astype(np.float32))
    np.testing.assert_allclose(S[:, :4], ref[:, :4], rtol=1e-5, atol=1e-4)
    n1, o1, _, l1 = fit_planes_from_moments(S)
    n0, o0, _, l0 = fit_planes_from_moments(ref)
    assert np.degrees(np.arccos(np.clip(np.abs((n1 * n0).sum(1)), 0, 1))).max() < 0.05
    np.testing.assert_allclose(o1, o0, atol=2e-5)
    np.testing.assert_allclose(np.sqrt(l1[:, 0]), np.sqrt(l0[:, 0]), rtol=0.02, atol=1e-5)


def test_weighted_shifted_moment_sums_match_reference():
    rx, ry, Z, rng = _cells(seed=1)
    w = ((Z > 0) & (rng.random(Z.shape) < 0.6)).astype(np.float32)
    plain = _moment_sums(rx * Z, ry * Z, Z, w)
    shift = plain[:, 1:4] / plain[:, :1] + rng.normal(0, 0.01, (len(Z), 3))     # near, not exact
    shifted = _moment_sums(rx * Z, ry * Z, Z, w, overwrite_xy=True, shift=shift)
    ref = _reference(rx, ry, Z, w)
    for S in (plain, shifted):
        np.testing.assert_array_equal(S[:, 0], ref[:, 0])
        n1, o1, _, l1 = fit_planes_from_moments(S)
        n0, o0, _, l0 = fit_planes_from_moments(ref)
        assert np.degrees(np.arccos(np.clip(np.abs((n1 * n0).sum(1)), 0, 1))).max() < 0.05
        np.testing.assert_allclose(o1, o0, atol=2e-5)
        np.testing.assert_allclose(np.sqrt(l1[:, 0]), np.sqrt(l0[:, 0]), rtol=0.02, atol=1e-5)


def _kernels():
    import pytest

    from arkit.planes import depth_kernels

    k = depth_kernels.load()
    if k is None:
        pytest.skip("numba kernels unavailable (numba not installed or ARKIT_NO_NUMBA set)")
    return k


def test_compiled_cell_moments_match_numpy_sums():
    from arkit.planes.depth_numpy import to_cells

    k = _kernels()
    rng = np.random.default_rng(4)
    H, W, cs = 60, 80, 20
    rx = np.tile(np.linspace(-0.6, 0.6, W, dtype=np.float32), (H, 1))
    ry = np.tile(np.linspace(-0.45, 0.45, H, dtype=np.float32)[:, None], (1, W))
    depth = (2.0 + 0.3 * rx - 0.2 * ry + rng.normal(0, 0.003, (H, W))).astype(np.float32)
    depth[rng.random((H, W)) < 0.15] = 0.0
    depth[0, :5] = np.nan
    depth[1, :5] = np.inf
    depth[2, :5] = -1.0
    depth[40:, 60:] = 0.0                                           # an empty cell
    S = k.cell_moments(depth, rx, ry, cs, H // cs, W // cs)
    clean = np.where((depth > 0) & (depth < np.inf), depth, 0).astype(np.float32)
    Z = to_cells(clean, cs, (3, 4))
    X, Y = to_cells(rx, cs, (3, 4)) * Z, to_cells(ry, cs, (3, 4)) * Z
    ref = _reference(to_cells(rx, cs, (3, 4)), to_cells(ry, cs, (3, 4)), Z, (Z > 0).astype(np.float32))
    np.testing.assert_array_equal(S[:, 0], ref[:, 0])
    assert S[-1, 0] == 0 and not S[-1].any()
    np.testing.assert_allclose(S, ref, rtol=1e-9, atol=1e-9)
    full = S[:, 0] > 0
    n1, o1, _, l1 = fit_planes_from_moments(S[full])
    n0, o0, _, l0 = fit_planes_from_moments(_moment_sums(X, Y, Z)[full])
    assert np.degrees(np.arccos(np.clip(np.abs((n1 * n0).sum(1)), 0, 1))).max() < 0.05
    np.testing.assert_allclose(np.sqrt(l1[:, 0]), np.sqrt(l0[:, 0]), rtol=0.02, atol=1e-5)


def test_compiled_plane_fits_match_numpy():
    from arkit.planes.cell_regions import mse_to_planes, region_sums

    k = _kernels()
    rng = np.random.default_rng(5)
    S = []
    for _ in range(60):
        n = rng.normal(size=3)
        n /= np.linalg.norm(n)
        P = rng.normal(0, 0.3, (80, 3))
        P -= (P @ n)[:, None] * n
        P += rng.normal(0, 0.002, (80, 1)) * n + rng.normal(0, 2, 3)
        S.append(moments_of_points(P))
    S = np.array(S)
    S[0] = moments_of_points(np.array([[0.0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]]))      # exact plane
    ref = rng.normal(size=(len(S), 3))
    for N in (3, len(S)):                        # numpy switches to LAPACK below 32 matrices
        for r in (None, ref[:N]):
            a = fit_planes_from_moments(S[:N], reference_normals=r)
            b = k.fit_planes(S[:N], np.zeros((0, 3)) if r is None else r)
            for x, y in zip(a, b):
                np.testing.assert_allclose(y, x, atol=1e-9)
    np.testing.assert_allclose(k.mse_to_planes(S, a[0], a[1]), mse_to_planes(S, a[0], a[1]), rtol=1e-6, atol=1e-15)
    reg = rng.integers(0, 7, len(S))
    np.testing.assert_allclose(k.region_sums(S, reg, 9), region_sums(S, reg, 9), rtol=1e-12)


def test_single_plane_fit_equals_the_batched_fit_bit_for_bit():
    from arkit.planes.plane_fit import fit_plane_from_moments

    rng = np.random.default_rng(7)
    for _ in range(300):
        R = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        P = rng.normal(size=(200, 3)) * [1.0, 0.02 * rng.random(), 1.0] @ R + rng.normal(size=3)
        S, ref = moments_of_points(P), rng.normal(size=3)
        n, d, mu, _ = fit_planes_from_moments(S[None], reference_normals=ref)
        n1, d1, mu1 = fit_plane_from_moments(S, ref)
        assert np.array_equal(n[0], n1) and d[0] == d1 and np.array_equal(mu[0], mu1)
        assert n1 @ ref >= 0 and abs(np.linalg.norm(n1) - 1) < 1e-12
