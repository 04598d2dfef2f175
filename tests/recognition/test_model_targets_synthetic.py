"""Model targets built from a synthetic textured box (rendered views, lifted ORB features) and the
depth route on synthetic depth: poses against the exact ground truth."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.pose import from_rt, rotation_angle_deg, rotvec_to_matrix, transform_points


def textured_box(extents=(0.20, 0.10, 0.14), seed=0, texture=True):
    """A box whose 6 faces each get their own random-shapes texture tile (3 x 2 atlas)."""
    import cv2
    import trimesh
    from PIL import Image

    rng = np.random.default_rng(seed)
    tile = 256
    atlas = np.full((2 * tile, 3 * tile, 3), 255, np.uint8)
    for _ in range(700):
        c = tuple(int(x) for x in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, 3 * tile)), int(rng.integers(0, 2 * tile))
        if rng.random() < 0.5:
            cv2.circle(atlas, (x, y), int(rng.integers(3, 14)), c, -1)
        else:
            cv2.rectangle(atlas, (x, y), (x + int(rng.integers(4, 24)), y + int(rng.integers(4, 24))), c, -1)
    h = np.asarray(extents, float) / 2
    faces_def = [  # (normal axis, sign)
        (0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)]
    verts, uvs, faces = [], [], []
    for k, (ax, sg) in enumerate(faces_def):
        u_ax, v_ax = [a for a in range(3) if a != ax]
        corners = []
        for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            p = np.zeros(3)
            p[ax], p[u_ax], p[v_ax] = sg * h[ax], su * h[u_ax], sv * h[v_ax]
            corners.append(p)
        n0 = len(verts)
        verts += corners
        tu, tv = k % 3, k // 3
        uvs += [((tu + (su + 1) / 2 * 0.96 + 0.02) / 3, 1 - (tv + (1 - (sv + 1) / 2) * 0.96 + 0.02) / 2)
                for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        tri = [[n0, n0 + 1, n0 + 2], [n0, n0 + 2, n0 + 3]]
        nrm = np.cross(corners[1] - corners[0], corners[2] - corners[0])
        if np.dot(nrm, corners[0]) < 0:
            tri = [t[::-1] for t in tri]
        faces += tri
    mesh = trimesh.Trimesh(np.array(verts), np.array(faces), process=False)
    if texture:
        mesh.visual = trimesh.visual.TextureVisuals(uv=np.array(uvs), image=Image.fromarray(atlas))
    return mesh


@pytest.fixture(scope="module")
def box_target():
    from arkit.recognition.model_targets import ModelTarget

    mesh = textured_box()
    return mesh, ModelTarget.from_textured_mesh(mesh, name="synth", n_views=14, image_size=(640, 480),
                                                features_per_view=800)


def render_view(mesh, T_camera_model, intr):
    from arkit.core.pose import invert
    from arkit.render import DrawItem, create_renderer, mesh_from_trimesh

    with create_renderer(intr.width, intr.height, samples=4) as r:
        out = r.render([DrawItem(mesh_from_trimesh(mesh), np.eye(4))], intr, invert(T_camera_model), ambient=0.7)
    bg = np.full((intr.height, intr.width, 3), 90, np.uint8)
    a = out.rgba[:, :, 3:4].astype(np.float32) / 255
    return (out.rgba[:, :, :3] * a + bg * (1 - a)).astype(np.uint8), out.depth_m


def test_from_textured_mesh_lifts_points_onto_the_surface(box_target):
    mesh, target = box_target
    assert len(target) > 300
    assert target.descriptors.dtype == np.uint8 and target.descriptors.shape == (len(target), 32)
    # every lifted point lies on the box surface (within a millimetre or so)
    half = np.array([0.10, 0.05, 0.07])
    dist = np.abs(np.abs(target.points_m) - half).min(axis=1)  # to the nearest face plane (points inside)
    assert np.all(np.abs(target.points_m) <= half + 0.003)
    assert np.percentile(dist, 95) < 0.002
    np.testing.assert_allclose(target.extent_m, [0.20, 0.10, 0.14], atol=1e-6)


def camera_looking_at_origin(direction, distance_m):
    """T_camera_model of a camera at ``distance_m`` along ``direction`` (model frame), looking at the origin."""
    from arkit.core.pose import invert
    from arkit.synthetic.camera_paths import look_at_rotation

    d = np.asarray(direction, float) / np.linalg.norm(direction)
    T_mc = np.eye(4)
    T_mc[:3, :3], T_mc[:3, 3] = look_at_rotation(-d)[0], distance_m * d
    return invert(T_mc)


@pytest.mark.parametrize("direction", [(0.6, 0.7, 0.8), (-0.7, 0.5, -0.6)])
def test_tracker_finds_synthetic_box_pose(box_target, direction):
    from arkit.recognition.model_target_tracker import ModelTargetTracker

    mesh, target = box_target
    intr = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)
    T_cm = from_rt(rotvec_to_matrix([0.0, 0.0, 0.2]), [0.01, -0.01, 0.0]) @ camera_looking_at_origin(direction, 0.55)
    image, _ = render_view(mesh, T_cm, intr)
    tracker = ModelTargetTracker([target])
    out = tracker.process(image, intr)
    assert out.detected and len(out.poses) == 1
    T = out.poses[0].T_camera_model
    assert rotation_angle_deg(T[:3, :3], T_cm[:3, :3]) < 1.0
    assert np.linalg.norm(T[:3, 3] - T_cm[:3, 3]) < 0.01
    (trk,) = out.trackables
    assert trk.id == "object:synth" and trk.kind == "object" and out.changes.added == ("object:synth",)
    np.testing.assert_allclose(trk.image_points_px, intr.project(transform_points(T_cm, target.corners_m)), atol=3.0)
    # next frame: a small motion is followed by tracking (no detection), still accurate
    T2 = from_rt(rotvec_to_matrix([0.0, 0.01, 0.0]), [0.003, 0.0, 0.0]) @ T_cm  # ~10 px
    image2, _ = render_view(mesh, T2, intr)
    out2 = tracker.process(image2, intr)
    assert not out2.detected and out2.poses[0].tracked
    T = out2.poses[0].T_camera_model
    assert rotation_angle_deg(T[:3, :3], T2[:3, :3]) < 1.0 and np.linalg.norm(T[:3, 3] - T2[:3, 3]) < 0.01
    assert out2.changes.updated == ("object:synth",)
    # an empty frame: the object is PAUSED at its last pose
    out3 = tracker.process(np.full_like(image, 90), intr)
    assert out3.trackables[0].state.value == "PAUSED" and out3.trackables[0].image_points_px is None


def test_mesh_without_texture_is_a_clear_error():
    from arkit.recognition.model_targets import ModelTarget, ModelTextureError

    with pytest.raises(ModelTextureError, match="no texture"):
        ModelTarget.from_textured_mesh(textured_box(texture=False), name="plain", n_views=2)


def test_depth_registration_of_synthetic_object():
    import trimesh

    from arkit.recognition.model_registration import depth_to_points, register_model, sample_model_points
    from arkit.render import DrawItem, box_mesh, create_renderer, mesh_from_trimesh

    # an asymmetric object (a box with a post and a step) standing in front of a floor
    parts = [trimesh.creation.box((0.20, 0.05, 0.12)), trimesh.creation.box((0.04, 0.12, 0.04)),
             trimesh.creation.box((0.06, 0.03, 0.03))]
    parts[1].apply_translation((0.07, 0.085, 0.03))
    parts[2].apply_translation((-0.05, 0.04, -0.03))
    obj = trimesh.util.concatenate(parts)
    intr = Intrinsics(320, 240, 300.0, 300.0, 159.5, 119.5)
    T_cm = from_rt(rotvec_to_matrix([0.4, -0.8, 0.3]), [0.02, -0.01, 0.45])
    T_cf = from_rt(rotvec_to_matrix([-0.3, 0, 0]), [0, 0.16, 0.5])
    with create_renderer(320, 240) as r:
        out = r.render([DrawItem(mesh_from_trimesh(obj), T_cm), DrawItem(box_mesh((1.0, 0.01, 1.0)), T_cf)],
                       intr, np.eye(4))
    rng = np.random.default_rng(0)
    depth = np.where(out.depth_m > 0, out.depth_m + rng.normal(0, 0.001, out.depth_m.shape), 0).astype(np.float32)
    model, normals = sample_model_points(obj, 4000, return_normals=True)
    reg = register_model(model, depth_to_points(depth, intr), voxel_m=0.008, seed=0, model_normals=normals)
    T = reg.T_camera_model
    assert rotation_angle_deg(T[:3, :3], T_cm[:3, :3]) < 1.0
    assert np.linalg.norm(T[:3, 3] - T_cm[:3, 3]) < 0.005
    assert reg.fitness > 0.3 and reg.inlier_rmse_m < 0.004


@pytest.mark.parametrize("shift_px", [0.0, 3.0])
def test_edge_alignment_measures_offset_of_an_outline(shift_px):
    import cv2

    from arkit.recognition.model_targets import edge_alignment_px

    img = np.full((240, 320, 3), (230, 230, 230), np.uint8)
    cv2.rectangle(img, (100, 80), (250, 180), (230, 200, 40), -1)  # yellow-ish on white: weak in grey
    cv2.line(img, (120, 100), (230, 100), (120, 60, 20), 2)       # a printed line inside the outline
    corners = np.array([[100, 80], [250, 80], [250, 180], [100, 180]], float) + [shift_px, shift_px]
    d = edge_alignment_px(img, corners, [(0, 1), (1, 2), (2, 3), (3, 0)])
    assert len(d) > 100
    assert abs(np.median(d) - shift_px) <= 1.0
    assert np.all(edge_alignment_px(np.zeros_like(img), corners, [(0, 1)]) == 10.0)  # no edge: capped
