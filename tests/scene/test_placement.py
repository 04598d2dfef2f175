"""Raycast placement: content pinned on the plane hit from a pixel, following the plane."""

import textwrap

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import SceneFileError
from arkit.core.pose import invert
from arkit.core.trackables import CameraState, PlaneAlignment, PlaneTrackable, TrackingState
from arkit.scene.anchors import AnchorBinding
from arkit.scene.graph import Scene
from arkit.scene.placement import Placement
from arkit.scene.scene_file import load_scene

K = Intrinsics(320, 240, 250.0, 250.0, 160.0, 120.0)
SQUARE = [[-3, -3], [3, -3], [3, 3], [-3, 3]]


def look_at(eye, target, up=(0, 1, 0)):
    """Camera pose (OpenCV axes: +Z forward, +Y down) at ``eye`` looking at ``target``."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, y, z, eye
    return T


def floor(y=0.0, pid="plane:0", T=None):
    T = np.eye(4) if T is None else T
    T = np.array(T)
    T[1, 3] += y
    return PlaneTrackable(pid, "plane", T, alignment=PlaneAlignment.HORIZONTAL_UP, label="floor",
                          polygon_xz=SQUARE, extent_xz=(6.0, 6.0))


def wall(pid="plane:1"):
    T = np.eye(4)  # +Y (normal) = +X world: wall at x = -2 facing +X
    T[:3, :3] = np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 1.0]])
    T[:3, 3] = [-2.0, 1.0, 0.0]
    return PlaneTrackable(pid, "plane", T, alignment=PlaneAlignment.VERTICAL, label="wall",
                          polygon_xz=SQUARE, extent_xz=(6.0, 6.0))


def scene_with(binding):
    s = Scene()
    s.add(SceneNode_box(), on=binding, name="box")
    return s


def SceneNode_box():
    from arkit.scene import overlays
    from arkit.scene.graph import SceneNode

    return SceneNode("box", np.eye(4), [overlays.box([0.1, 0.1, 0.1])])


TRACKING = TrackingState.TRACKING


@pytest.mark.parametrize("uv", [(0.5, 0.5), (0.3, 0.7), (0.8, 0.6)])
def test_placement_pins_content_on_the_plane_through_the_pixel(uv):
    T_wc = look_at([1.0, 1.5, 2.0], [0.0, 0.0, 0.0])
    scene = scene_with(AnchorBinding(raycast_uv=uv, alignment="horizontal"))
    planes = [floor()]
    placed = Placement().update(scene, planes, K, CameraState(T_wc, TRACKING))
    assert placed == ["box"]
    anchors, items = scene.resolve(planes)
    assert len(anchors) == 1 and anchors[0].trackable_id == "plane:0" and items
    T = anchors[0].T_world_anchor
    assert abs(T[1, 3]) < 1e-9                                   # on the plane
    np.testing.assert_allclose(T[:3, 1], [0, 1, 0], atol=1e-9)   # +Y = plane normal
    np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)
    assert np.linalg.det(T[:3, :3]) > 0
    # the anchor lies on the ray through the pixel
    p_cam = (invert(T_wc) @ np.append(T[:3, 3], 1.0))[:3]
    np.testing.assert_allclose(K.project(p_cam[None])[0], [uv[0] * K.width, uv[1] * K.height], atol=1e-6)
    # +Z faces the camera (in the plane)
    to_cam = T_wc[:3, 3] - T[:3, 3]
    to_cam[1] = 0
    assert T[:3, 2] @ to_cam / np.linalg.norm(to_cam) > 0.999


def test_anchor_follows_the_plane_when_it_is_refined():
    T_wc = look_at([0.5, 1.4, 1.5], [0.0, 0.0, 0.0])
    scene = scene_with(AnchorBinding(raycast_uv=(0.5, 0.5), alignment="horizontal"))
    p0 = floor()
    Placement().update(scene, [p0], K, CameraState(T_wc, TRACKING))
    T0 = scene.resolve([p0])[0][0].T_world_anchor
    T_ref = np.eye(4)
    T_ref[:3, 3] = [0.3, 0.05, -0.2]
    c, s = np.cos(0.2), np.sin(0.2)
    T_ref[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    p1 = floor(T=T_ref)   # the same plane, re-estimated: moved and turned
    T1 = scene.resolve([p1])[0][0].T_world_anchor
    np.testing.assert_allclose(T1, T_ref @ T0, atol=1e-9)       # T_plane_anchor stays fixed


def test_unresolvable_raycast_gives_no_content_and_no_error():
    T_wc = look_at([0.0, 1.5, 2.0], [0.0, 1.5, 5.0])             # looking at the horizon, away from the floor
    scene = scene_with(AnchorBinding(raycast_uv=(0.5, 0.3), alignment="horizontal"))
    pl = Placement()
    assert pl.update(scene, [floor()], K, CameraState(T_wc, TRACKING)) == []
    assert scene.resolve([floor()]) == ((), [])
    # no tracking: nothing placed even when the ray would hit
    T_down = look_at([0.0, 1.5, 0.5], [0.0, 0.0, 0.0])
    assert pl.update(scene, [floor()], K, CameraState(T_down, TrackingState.LOST)) == []
    assert pl.update(scene, [], K, CameraState(T_down, TRACKING)) == []
    assert scene.resolve([floor()]) == ((), [])
    # then it resolves
    assert pl.update(scene, [floor()], K, CameraState(T_down, TRACKING)) == ["box"]


def test_alignment_filters_planes():
    T_wc = look_at([1.0, 1.0, 0.0], [-2.0, 1.0, 0.0])            # facing the wall
    planes = [floor(), wall()]
    for alignment, expected in (("vertical", "plane:1"), ("any", "plane:1")):
        scene = scene_with(AnchorBinding(raycast_uv=(0.5, 0.5), alignment=alignment))
        Placement().update(scene, planes, K, CameraState(T_wc, TRACKING))
        (a,), _ = scene.resolve(planes)
        assert a.trackable_id == expected
        np.testing.assert_allclose(a.T_world_anchor[:3, 1], [1, 0, 0], atol=1e-9)
        np.testing.assert_allclose(a.T_world_anchor[:3, 3], [-2.0, 1.0, 0.0], atol=1e-9)
    scene = scene_with(AnchorBinding(raycast_uv=(0.5, 0.5), alignment="horizontal"))
    assert Placement().update(scene, planes, K, CameraState(T_wc, TRACKING)) == []


def test_content_is_rehomed_when_its_plane_is_merged_or_dropped():
    T_wc = look_at([0.5, 1.4, 1.5], [0.0, 0.0, 0.0])
    scene = scene_with(AnchorBinding(raycast_uv=(0.5, 0.5), alignment="horizontal"))
    pl = Placement()
    a = floor(pid="plane:0")
    pl.update(scene, [a], K, CameraState(T_wc, TRACKING))
    T0 = scene.resolve([a])[0][0].T_world_anchor
    T_b = np.eye(4)
    T_b[:3, 3] = [1.0, 0.01, 1.0]
    b = floor(pid="plane:7", T=T_b)
    pl.update(scene, [b], K, CameraState(T_wc, TRACKING))      # plane:0 dropped, plane:7 coplanar
    (anc,), _ = scene.resolve([b])
    assert anc.trackable_id == "plane:7"
    np.testing.assert_allclose(anc.T_world_anchor, T0, atol=1e-9)
    pl.update(scene, [], K, CameraState(T_wc, TRACKING))       # every plane gone: world-fixed
    (anc,), _ = scene.resolve([])
    assert anc.trackable_id is None
    np.testing.assert_allclose(anc.T_world_anchor, T0, atol=1e-9)


def write(tmp_path, text):
    p = tmp_path / "scene.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_scene_file_raycast_anchor(tmp_path):
    p = write(tmp_path, """\
        content:
          - name: box
            anchor: {raycast: center, alignment: horizontal}
            box: 0.1
          - name: sign
            anchor: {raycast: [0.25, 0.75]}
            label: hi
        """)
    sf = load_scene(p)
    (b0, _), (b1, _) = sf.scene.bindings()
    assert b0.raycast_uv == (0.5, 0.5) and b0.alignment == "horizontal"
    assert b1.raycast_uv == (0.25, 0.75) and b1.alignment == "any"


@pytest.mark.parametrize("anchor, line_key, what", [
    ("{raycast: middle}", "content[0].anchor.raycast", "center"),
    ("{raycast: [0.5]}", "content[0].anchor.raycast", "2 numbers"),
    ("{raycast: [0.5, 1.5]}", "content[0].anchor.raycast", "0..1"),
    ("{raycast: center, alignment: diagonal}", "content[0].anchor.alignment", "horizontal"),
    ("{alignment: vertical}", "content[0].anchor.alignment", "raycast"),
    ("{raycast: center, marker: 3}", "content[0].anchor.marker", "only"),
])
def test_scene_file_bad_raycast_names_line_and_key(tmp_path, anchor, line_key, what):
    p = write(tmp_path, f"""\
        name: t
        content:
          - name: box
            box: 0.1
            anchor: {anchor}
        """)
    with pytest.raises(SceneFileError) as e:
        load_scene(p)
    msg = str(e.value)
    assert ":5:" in msg and line_key in msg and what in msg, msg


def test_planes_floor_sample_places_the_box_on_the_floor(tmp_path):
    from pathlib import Path

    from arkit.io.sources import open_source
    from arkit.session import Session
    from arkit.synthetic.generator import generate_sequence

    root = Path(__file__).resolve().parents[2]
    seq = generate_sequence("textured_room", tmp_path / "seq", num_frames=8, width=320, height=240,
                            texture_px_per_m=128)
    session = Session.from_scene(root / "samples" / "planes_floor" / "scene.yaml")
    assert session.debug_planes
    boxes, walls, images = [], [], []
    with open_source(str(seq)) as src, session:
        for r in session.run(src):
            boxes += [a for a in r.anchors if a.id == "anchor:box"]
            walls += [a for a in r.anchors if a.id == "anchor:wall_label"]
            images.append(r.image)
    assert len(boxes) >= 4, "the box is placed within the first frames and stays"
    for a in boxes:
        assert abs(a.T_world_anchor[1, 3]) < 0.03                     # on the floor (world y = 0)
        assert a.T_world_anchor[1, 1] > 0.99                          # standing upright
    assert walls and abs(walls[-1].T_world_anchor[1, 1]) < 0.1        # the label lies on a wall
    assert all(im is not None and im.shape == (240, 320, 3) for im in images)


def test_pinch_drops_content_on_the_plane_under_the_hand(tmp_path):
    from arkit.core.trackables import Trackable
    from arkit.recognition.mediapipe_hands import HandTrackable

    p = tmp_path / "s.yaml"
    p.write_text("content:\n  - name: cube\n    box: 0.1\n    anchor: {raycast: pinch, alignment: horizontal}\n")
    scene = load_scene(p).scene
    cam = CameraState(look_at([0, 1.5, 2.0], [0, 0, 0]), TrackingState.TRACKING)
    placement = Placement()
    uv = (200.0, 150.0)

    def hand(state):
        return HandTrackable("hand:right", "hand", np.eye(4), image_points_px=np.zeros((21, 2)),
                             pinch_state=state, pinch_point_px=np.array(uv), pinching=state != "none")

    assert placement.update(scene, [floor(), hand("none")], K, cam) == []
    assert scene.resolve([floor()])[0] == ()
    assert placement.update(scene, [floor(), hand("started")], K, cam) == ["cube"]
    anchors, _ = scene.resolve([floor()])
    T = anchors[0].T_world_anchor
    assert abs(T[1, 3]) < 1e-9  # on the floor
    ray = K.unproject([uv])[0]
    p_cam = invert(cam.T_world_camera) @ T[:, 3]
    np.testing.assert_allclose(p_cam[:3] / p_cam[2], ray / ray[2], atol=1e-9)  # under the pinch pixel
    with pytest.raises(SceneFileError, match="'center', 'pinch'"):
        p.write_text("content:\n  - box: 0.1\n    anchor: {raycast: hand}\n")
        load_scene(p)
