"""Ray casts against plane trackables."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import ArkitError
from arkit.core.trackables import PlaneTrackable
from arkit.planes.polygon import plane_rotation
from arkit.planes.raycast import raycast, raycast_pixel
from arkit.planes.testing import look_at

SQUARE = [[-1, -1], [1, -1], [1, 1], [-1, 1]]


def plane(pid, normal, origin, poly=SQUARE, **kw):
    T = np.eye(4)
    T[:3, :3] = plane_rotation(normal)
    T[:3, 3] = origin
    return PlaneTrackable(pid, "plane", T, polygon_xz=poly, **kw)


FLOOR = plane("plane:0", [0, 1, 0], [0, 0, 0], [[-3, -3], [3, -3], [3, 3], [-3, 3]])
TABLE = plane("plane:1", [0, 1, 0], [0.5, 0.75, 0.0], [[-0.4, -0.3], [0.4, -0.3], [0.4, 0.3], [-0.4, 0.3]])
WALL = plane("plane:2", [0, 0, -1], [0, 1, 3])


def test_nearest_first_and_hit_pose():
    hits = raycast([FLOOR, TABLE, WALL], [0.5, 2.0, 0.0], [0, -1, 0])
    assert [h.trackable_id for h in hits] == ["plane:1", "plane:0"]
    assert hits[0].distance_m == pytest.approx(1.25)
    assert np.allclose(hits[0].point_world, [0.5, 0.75, 0.0])
    T = hits[0].T_world_hit
    assert np.allclose(T[:3, 1], [0, 1, 0]) and np.allclose(T[:3, 3], hits[0].point_world)
    assert np.allclose(T[:3, :3], TABLE.T_world_local[:3, :3])


def test_polygon_bounds_and_infinite():
    # misses the table's polygon (x = 1.5) but hits the floor; the infinite table is hit
    assert [h.trackable_id for h in raycast([FLOOR, TABLE], [1.5, 2.0, 0.0], [0, -1, 0])] == ["plane:0"]
    ids = [h.trackable_id for h in raycast([FLOOR, TABLE], [1.5, 2.0, 0.0], [0, -1, 0], infinite=True)]
    assert ids == ["plane:1", "plane:0"]
    assert raycast([FLOOR], [0, 2, 0], [0, 1, 0]) == []            # pointing away
    assert raycast([FLOOR], [0, 2, 0], [1, 0, 0]) == []            # parallel
    # the wall's square spans x, y in [-1, 1] around (0, 1, 3): an oblique hit with unnormalised direction
    h, = raycast([WALL], [0, 1, 0], [0, 0.5, 3.0])
    assert h.distance_m == pytest.approx(np.hypot(0.5, 3.0))
    assert np.allclose(h.point_world, [0, 1.5, 3.0])


def test_subsumed_planes_are_skipped():
    gone = plane("plane:3", [0, 1, 0], [0, 0.5, 0], subsumed_by="plane:0")
    assert [h.trackable_id for h in raycast([gone, FLOOR], [0, 2, 0], [0, -1, 0])] == ["plane:0"]


def test_raycast_pixel_matches_projection():
    K = Intrinsics(640, 480, 500.0, 500.0, 320.0, 240.0)
    T_wc = look_at((0.3, 1.6, -1.0), (0.0, 0.0, 1.5))
    target = np.array([0.7, 0.0, 1.2])                               # a floor point
    uv = K.project((np.linalg.inv(T_wc) @ np.r_[target, 1.0])[None, :3])[0]
    h = raycast_pixel(uv[0], uv[1], K, T_wc, [FLOOR, WALL])[0]
    assert h.trackable_id == "plane:0"
    assert np.allclose(h.point_world, target, atol=1e-9)
    assert h.distance_m == pytest.approx(np.linalg.norm(target - T_wc[:3, 3]))


def test_bad_ray():
    with pytest.raises(ArkitError):
        raycast([FLOOR], [0, 1, 0], [0, 0, 0])
    with pytest.raises(ArkitError):
        raycast([FLOOR], [np.nan, 1, 0], [0, -1, 0])
