"""Moment-sum plane fits, the closed-form 3x3 eigen solver, polygons and label guesses."""

import numpy as np
import pytest

from arkit.core.trackables import PlaneAlignment
from arkit.planes.labels import guess_label, plane_alignment
from arkit.planes.plane_fit import (
    eigh_smallest_3x3, fit_planes_from_moments, moments_of_points, transform_moments, transform_plane,
)
from arkit.planes.polygon import outline_xz, plane_rotation, points_in_polygon, polygon_area


def test_fit_matches_svd_and_moments_add():
    rng = np.random.default_rng(0)
    n = np.array([0.2, -0.9, 0.3]); n /= np.linalg.norm(n)
    basis = np.linalg.svd(n[None])[2][1:]
    P = rng.uniform(-1, 1, (500, 2)) @ basis + 2.0 * -n + rng.normal(0, 0.003, (500, 1)) * n
    S = moments_of_points(P[:200]) + moments_of_points(P[200:])
    assert np.allclose(S, moments_of_points(P))
    nrm, off, mu, lam = fit_planes_from_moments(S[None])
    u = np.linalg.svd(P - P.mean(0))[2][2]
    assert abs(abs(nrm[0] @ u) - 1) < 1e-9
    assert nrm[0] @ mu[0] < 0 and off[0] > 0                     # faces the origin
    assert np.sqrt(lam[0, 0]) == pytest.approx(np.sqrt(np.mean((P @ nrm[0] + off[0]) ** 2)), rel=1e-6)


def test_closed_form_eigen_matches_lapack():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(300, 3, 3))
    C = A @ A.transpose(0, 2, 1)
    C[:10] = np.diag([0.0, 1e-3, 1.0])                            # a perfect plane
    w, v = eigh_smallest_3x3(C)
    W, V = np.linalg.eigh(C)
    assert np.allclose(w, W, atol=1e-10)
    assert np.allclose(np.abs(np.einsum("ij,ij->i", v, V[:, :, 0])), 1, atol=1e-9)


def test_transforms_of_planes_and_moments():
    rng = np.random.default_rng(2)
    T = np.eye(4)
    T[:3, :3] = np.linalg.qr(rng.normal(size=(3, 3)))[0] * np.array([1, 1, 1])
    if np.linalg.det(T[:3, :3]) < 0:
        T[:3, 0] *= -1
    T[:3, 3] = [0.3, -1.0, 2.0]
    P = rng.normal(size=(100, 3))
    Pw = P @ T[:3, :3].T + T[:3, 3]
    assert np.allclose(transform_moments(T, moments_of_points(P)), moments_of_points(Pw))
    n, d = np.array([0, 0, -1.0]), 2.0
    nw, dw = transform_plane(T, n, d)
    x = np.array([0.1, 0.2, 2.0])                                 # on the plane
    assert abs(nw @ (T[:3, :3] @ x + T[:3, 3]) + dw) < 1e-12


def test_plane_rotation_and_outline():
    for n in ([0, 1, 0], [0, 0, -1], [1, 0, 0], [0.3, 0.9, 0.1]):
        R = plane_rotation(n)
        assert np.allclose(R.T @ R, np.eye(3)) and np.linalg.det(R) == pytest.approx(1)
        assert np.allclose(R[:, 1], np.asarray(n) / np.linalg.norm(n))
    rng = np.random.default_rng(3)
    xz = rng.uniform([-1, -0.5], [1, 0.5], (4000, 2))
    poly = outline_xz(xz, cell_m=0.05)
    assert polygon_area(poly) == pytest.approx(2.0, rel=0.08)
    hull = outline_xz(xz, concave=False)
    assert polygon_area(hull) == pytest.approx(2.0, rel=0.03)
    L = np.vstack([xz[xz[:, 0] < 0], rng.uniform([0, 0.2], [1, 0.5], (800, 2))])   # an L shape
    assert polygon_area(outline_xz(L)) < 0.8 * polygon_area(outline_xz(L, concave=False))
    assert points_in_polygon([[0, 0], [5, 5]], poly).tolist() == [True, False]
    assert len(outline_xz(np.zeros((2, 2)))) == 0


def test_alignment_and_labels():
    assert plane_alignment([0, 1, 0]) == PlaneAlignment.HORIZONTAL_UP
    assert plane_alignment([0, -1, 0]) == PlaneAlignment.HORIZONTAL_DOWN
    assert plane_alignment([1, 0.05, 0]) == PlaneAlignment.VERTICAL
    assert plane_alignment([1, 1, 0]) == PlaneAlignment.OTHER
    assert plane_alignment([0, 0, 1], up_world=[0, 0, 1]) == PlaneAlignment.HORIZONTAL_UP
    H, V, D = PlaneAlignment.HORIZONTAL_UP, PlaneAlignment.VERTICAL, PlaneAlignment.HORIZONTAL_DOWN
    assert guess_label(H, 0.0, 5.0, is_floor=True) == "floor"
    assert guess_label(H, 0.75, 1.0) == "table"
    assert guess_label(H, 0.45, 0.3) == "seat"
    assert guess_label(H, None, 1.0) == "unknown"
    assert guess_label(D, 2.5, 4.0) == "ceiling"
    assert guess_label(V, 0.5, 2.0) == "wall"
    assert guess_label(V, 0.5, 0.1, vertical_extent_m=0.3) == "unknown"
