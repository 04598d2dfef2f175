import numpy as np
import pytest

from arkit.core.errors import ArkitError
from arkit.core.pose import from_rt
from arkit.core.trackables import PlaneTrackable
from arkit.planes.raycast_more import raycast_all, raycast_mesh, raycast_points


def test_points_hit_nearest_first_within_radius():
    pts = np.array([[0, 0, 2.0], [0.01, 0, 1.0], [0.5, 0, 1.5], [0, 0, -1.0]])
    hits = raycast_points(pts, [0, 0, 0], [0, 0, 1], radius_m=0.02)
    assert [h.trackable_id for h in hits] == ["point:1", "point:0"]
    assert hits[0].distance_m == pytest.approx(1.0)
    np.testing.assert_allclose(hits[0].T_world_hit[:3, 1], [0, 0, -1])  # faces the camera
    with pytest.raises(ArkitError):
        raycast_points(pts, [0, 0, 0], [0, 0, 0])


def test_mesh_hit_with_pose_and_normal():
    import trimesh

    box = trimesh.creation.box([1.0, 1.0, 1.0])
    T = from_rt(t=[0, 0, 3.0])
    hits = raycast_mesh(box, [0, 0, 0], [0, 0, 1], T_world_mesh=T, name="box")
    assert len(hits) == 2 and hits[0].trackable_id == "box"
    assert hits[0].distance_m == pytest.approx(2.5) and hits[1].distance_m == pytest.approx(3.5)
    np.testing.assert_allclose(hits[0].T_world_hit[:3, 1], [0, 0, -1], atol=1e-9)
    R = hits[0].T_world_hit[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)


def test_all_sorted_across_kinds():
    import trimesh

    floor = PlaneTrackable("plane:0", "plane", np.eye(4), polygon_xz=[[-5, -5], [5, -5], [5, 5], [-5, 5]])
    box = trimesh.creation.box([0.2, 0.2, 0.2])
    hits = raycast_all([0, 2, 0], [0, -1, 0], planes=[floor], points_world=[[0, 1.5, 0]],
                       meshes=[("crate", box, from_rt(t=[0, 0.5, 0]))])
    assert [h.trackable_id for h in hits] == ["point:0", "crate", "crate", "plane:0"]
