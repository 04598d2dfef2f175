import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import IntrinsicsError


def _pts(rng, n=50):
    return np.column_stack([rng.uniform(-0.8, 0.8, n), rng.uniform(-0.6, 0.6, n), rng.uniform(0.5, 3, n)])


@pytest.mark.parametrize("dist", [(), (0.1, -0.05, 0.001, -0.002), (0.1, -0.05, 0.001, -0.002, 0.01),
                                  (0.1, -0.05, 0.001, -0.002, 0.01, 0.02, -0.01, 0.005)])
def test_project_matches_cv2(dist):
    import cv2

    K = Intrinsics(640, 480, 520.0, 515.0, 322.0, 241.0, dist)
    P = _pts(np.random.default_rng(0))
    ref, _ = cv2.projectPoints(P, np.zeros(3), np.zeros(3), K.K, K.dist_coeffs)
    np.testing.assert_allclose(K.project(P), ref.reshape(-1, 2), atol=1e-6)
    # unproject inverts project
    back = K.unproject(K.project(P), P[:, 2])
    np.testing.assert_allclose(back, P, atol=1e-6)


def test_fisheye_matches_cv2():
    import cv2

    K = Intrinsics(640, 480, 300.0, 300.0, 320.0, 240.0, (0.05, -0.01, 0.002, -0.001), model="fisheye")
    P = _pts(np.random.default_rng(1))
    ref, _ = cv2.fisheye.projectPoints(P.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K.K, K.dist_coeffs)
    np.testing.assert_allclose(K.project(P), ref.reshape(-1, 2), atol=1e-6)
    np.testing.assert_allclose(K.unproject(K.project(P), P[:, 2]), P, atol=1e-6)


def test_scaled_keeps_rays():
    K = Intrinsics(640, 480, 500.0, 500.0, 319.5, 239.5)
    K2 = K.scaled(320, 240)
    assert (K2.width, K2.height) == (320, 240)
    # the image centre ray is preserved under the pixel-centre convention
    np.testing.assert_allclose(K2.unproject([[159.5, 119.5]]), [[0, 0, 1]], atol=1e-12)
    P = np.array([[0.3, -0.2, 2.0]])
    np.testing.assert_allclose((K2.project(P) + 0.5) * 2 - 0.5, K.project(P), atol=1e-9)


def test_bad_intrinsics_raise():
    with pytest.raises(IntrinsicsError, match="focal"):
        Intrinsics(640, 480, -1, 500, 320, 240)
    with pytest.raises(IntrinsicsError, match="size"):
        Intrinsics(0, 480, 500, 500, 320, 240)
    with pytest.raises(IntrinsicsError, match="coefficients"):
        Intrinsics(640, 480, 500, 500, 320, 240, (0.1, 0.2, 0.3))
    K = Intrinsics(640, 480, 500, 500, 320, 240)
    with pytest.raises(IntrinsicsError, match="640x480.*320x240"):
        K.check_image(np.zeros((240, 320, 3), np.uint8))


def test_from_fov_warns():
    with pytest.warns(UserWarning, match="guessing"):
        K = Intrinsics.from_fov(640, 480, 90.0)
    assert abs(K.fx - 320.0) < 1e-9


def test_dict_round_trip():
    K = Intrinsics(640, 480, 500, 501, 320, 240, (0.1, 0.0, 0.0, 0.0))
    assert Intrinsics.from_dict(K.to_dict()) == K
    with pytest.raises(IntrinsicsError, match="fx"):
        Intrinsics.from_dict({"width": 1, "height": 1})
