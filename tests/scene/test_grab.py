"""Grab gesture: pinch near content to pick it up, drag it (on the plane under the hand, else at
constant depth), let go to drop it; with synthetic hand trackables over a few frames."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import SceneFileError
from arkit.core.frame import Frame
from arkit.core.managers import ManagerOutput, TrackableManager
from arkit.core.pose import invert
from arkit.core.trackables import CameraState, PlaneAlignment, PlaneTrackable, TrackingState
from arkit.recognition.mediapipe_hands import HandTrackable
from arkit.scene import overlays
from arkit.scene.anchors import AnchorBinding
from arkit.scene.graph import Scene, SceneNode
from arkit.scene.placement import Placement
from arkit.scene.scene_file import load_scene

K = Intrinsics(320, 240, 250.0, 250.0, 160.0, 120.0)
SQUARE = [[-3, -3], [3, -3], [3, 3], [-3, 3]]


def look_at(eye, target, up=(0, 1, 0)):
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = x, np.cross(z, x), z, eye
    return T


T_WC = look_at([0.3, 1.2, 1.5], [0.0, 0.0, 0.0])
CAM = CameraState(T_WC, TrackingState.TRACKING)


def floor(dx=0.0):
    T = np.eye(4)
    T[0, 3] = dx
    return PlaneTrackable("plane:0", "plane", T, alignment=PlaneAlignment.HORIZONTAL_UP, label="floor",
                          polygon_xz=SQUARE, extent_xz=(6.0, 6.0))


def hand(state, point=None, hid="hand:right"):
    pinching = state in ("started", "held")
    return HandTrackable(hid, "hand", np.eye(4), handedness="right", pinching=pinching, pinch_state=state,
                         pinch_point_px=None if point is None else tuple(float(v) for v in point))


def project_world(p_world):
    return K.project((invert(T_WC) @ np.r_[p_world, 1.0])[:3][None])[0]


def box_node(lift=0.05):
    T = np.eye(4)
    T[1, 3] = lift
    return SceneNode("box", T, [overlays.box([0.1, 0.1, 0.1])])


def anchor_of(scene, trackables):
    anchors, _ = scene.resolve(trackables)
    assert len(anchors) == 1
    return anchors[0]


def test_pinch_grabs_drags_along_the_floor_and_drops_on_it():
    scene = Scene()
    start = np.eye(4)
    start[:3, 3] = (0.1, 0.0, 0.2)
    scene.add(box_node(), on=AnchorBinding(trackable_id="plane:0", T_trackable_anchor=start, grab_radius_px=30.0))
    pl = Placement()
    node_px = project_world([0.1, 0.05, 0.2])
    # an open hand over the box, then a pinch far away: nothing is grabbed
    for h in (hand("none", node_px), hand("started", node_px + (60.0, 0.0))):
        pl.update(scene, [floor(), h], K, CAM)
        assert pl.grab.held == {} and pl.grab.events == []
    pl.update(scene, [floor(), hand("none")], K, CAM)
    # pinch starts 6 px from where the box is drawn: grabbed
    pinch0 = node_px + (4.0, -4.5)
    pl.update(scene, [floor(), hand("started", pinch0)], K, CAM)
    assert pl.grab.held == {"hand:right": "box"} and [e.kind for e in pl.grab.events] == ["grabbed"]
    np.testing.assert_allclose(anchor_of(scene, [floor()]).T_world_anchor, start, atol=1e-12)  # no jump
    anchor_px0 = project_world(start[:3, 3])
    # drag: the anchor stays on the floor, under the pinch (plus the grab offset), upright
    for shift in ((20.0, 5.0), (45.0, 20.0), (-30.0, 35.0)):
        pinch = pinch0 + shift
        pl.update(scene, [floor(), hand("held", pinch)], K, CAM)
        T = anchor_of(scene, [floor()]).T_world_anchor
        assert abs(T[1, 3]) < 1e-9
        np.testing.assert_allclose(T[:3, 1], (0, 1, 0), atol=1e-9)
        np.testing.assert_allclose(project_world(T[:3, 3]), anchor_px0 + shift, atol=1e-6)
        np.testing.assert_allclose(T[:3, :3], start[:3, :3], atol=1e-9)  # heading kept
        assert pl.grab.events[0].kind == "moved" and pl.grab.events[0].on == "plane:0"
    dropped_at = T.copy()
    # release: dropped on the floor, which it then follows
    pl.update(scene, [floor(), hand("ended", pinch)], K, CAM)
    assert pl.grab.held == {} and pl.grab.events[0].kind == "dropped" and pl.grab.events[0].on == "plane:0"
    a = anchor_of(scene, [floor()])
    assert a.trackable_id == "plane:0"
    np.testing.assert_allclose(a.T_world_anchor, dropped_at, atol=1e-9)
    moved_floor = floor(dx=0.25)
    pl.update(scene, [moved_floor, hand("none")], K, CAM)
    np.testing.assert_allclose(anchor_of(scene, [moved_floor]).T_world_anchor[:3, 3], dropped_at[:3, 3] + (0.25, 0, 0),
                               atol=1e-9)


def test_drag_at_constant_depth_without_planes_and_drop_world_fixed():
    scene = Scene()
    T0 = T_WC.copy()
    T0[:3, 3] = (T_WC @ np.array([0.05, -0.02, 0.8, 1.0]))[:3]  # 0.8 m in front of the camera
    scene.add(box_node(lift=0.0), on=AnchorBinding(T_world_anchor=T0, grab_radius_px=25.0))
    pl = Placement()
    px0 = K.project(np.array([[0.05, -0.02, 0.8]]))[0]
    pl.update(scene, [hand("started", px0 + (3.0, 3.0))], K, CAM)
    assert pl.grab.held == {"hand:right": "box"}
    for shift in ((30.0, 0.0), (30.0, -40.0)):
        pl.update(scene, [hand("held", px0 + (3.0, 3.0) + shift)], K, CAM)
        T = anchor_of(scene, []).T_world_anchor
        p_cam = (invert(T_WC) @ T)[:3, 3]
        assert p_cam[2] == pytest.approx(0.8, abs=1e-9)                  # constant depth
        np.testing.assert_allclose(K.project(p_cam[None])[0], px0 + shift, atol=1e-6)
        np.testing.assert_allclose(T[:3, :3], T0[:3, :3], atol=1e-12)   # orientation kept
    # the hand is lost: dropped where it is, world-fixed
    pl.update(scene, [], K, CAM)
    a = anchor_of(scene, [])
    assert pl.grab.events[0].kind == "dropped" and pl.grab.events[0].on is None and a.trackable_id is None
    np.testing.assert_allclose(a.T_world_anchor, T, atol=1e-12)
    pl.update(scene, [hand("held", (10.0, 10.0))], K, CAM)               # a held pinch never grabs
    np.testing.assert_allclose(anchor_of(scene, []).T_world_anchor, T, atol=1e-12)


def test_nothing_moves_while_the_camera_is_lost_and_non_grabbable_content_stays():
    scene = Scene()
    T0 = np.eye(4)
    scene.add(box_node(), on=AnchorBinding(trackable_id="plane:0"))     # no grab radius
    pl = Placement()
    px = project_world([0.0, 0.05, 0.0])
    pl.update(scene, [floor(), hand("started", px)], K, CAM)
    assert pl.grab.held == {}
    lost = CameraState(T_WC, TrackingState.LOST)
    scene2 = Scene()
    scene2.add(box_node(), on=AnchorBinding(T_world_anchor=T0, grab_radius_px=50.0))
    pl2 = Placement()
    pl2.update(scene2, [hand("started", px)], K, lost)
    assert pl2.grab.held == {}
    with pytest.raises(ValueError, match="single anchor"):
        AnchorBinding(kind="face", grab_radius_px=10.0)
    with pytest.raises(ValueError, match="positive"):
        AnchorBinding(grab_radius_px=0.0)


def _write(tmp_path, text):
    p = tmp_path / "scene.yaml"
    p.write_text(text)
    return p


def test_scene_file_grab_key(tmp_path):
    sf = load_scene(_write(tmp_path, "content:\n"
                                     "  - {name: a, anchor: {raycast: pinch}, box: 0.1, grab: pinch}\n"
                                     "  - {name: b, anchor: 'marker:3', box: 0.1, grab: {radius_px: 80}}\n"
                                     "  - {name: c, box: 0.1}\n"))
    radii = {n.name: b.grab_radius_px for b, n in sf.scene.bindings()}
    assert radii == {"a": 60.0, "b": 80.0, "c": None}
    assert sf.scene.bindings()[0][0].raycast_uv == "pinch"
    bad = {"grab: wave": "unknown grab gesture",
           "grab: {gesture: pinch, radius_px: -1}": "positive",
           "grab: {radius: 5}": "did you mean 'radius_px'",
           "anchor: kind:face, grab: pinch": "one copy per trackable"}
    for snippet, msg in bad.items():
        with pytest.raises(SceneFileError, match=msg):
            load_scene(_write(tmp_path, f"content:\n  - {{name: a, box: 0.1, {snippet}}}\n"))
    with pytest.raises(SceneFileError, match="top-level"):
        load_scene(_write(tmp_path, "content:\n  - {name: a, box: 0.1, children: [{box: 0.1, grab: pinch}]}\n"))


def test_scene_file_warns_when_pinch_content_has_no_hands(tmp_path, caplog):
    with caplog.at_level("WARNING", logger="arkit.scene.scene_file"):
        load_scene(_write(tmp_path, "content:\n  - {name: a, box: 0.1, grab: pinch}\n"))
    assert "recognition: {hands: true}" in caplog.text and "a" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="arkit.scene.scene_file"):
        load_scene(_write(tmp_path, "recognition: {hands: true}\ncontent:\n  - {name: a, box: 0.1, grab: pinch}\n"))
    assert caplog.text == ""


class ScriptedHands(TrackableManager):
    """A floor plane and one scripted hand per frame (stands in for the plane and hand managers)."""

    name = "scripted"

    def __init__(self, hands):
        self.hands = list(hands)

    def update(self, frame, camera):
        h = self.hands.pop(0)
        return ManagerOutput((floor(),) + ((h,) if h is not None else ()))


def test_session_places_on_pinch_then_grabs_and_moves(tmp_path):
    """Through Session.step: the first pinch drops the cube on the floor (raycast: pinch), a later
    pinch on it drags it."""
    from arkit.session import Session
    from arkit.tracking.base import Tracker, TrackerOutput

    class Fixed(Tracker):
        def track(self, frame):
            return TrackerOutput(CAM)

    sf = load_scene(_write(tmp_path, "content:\n  - {name: cube, anchor: {raycast: pinch}, box: 0.1, "
                                     "position_m: [0, 0.05, 0], grab: pinch}\n"))
    spot = project_world([0.0, 0.0, 0.0])
    on_cube = project_world([0.0, 0.05, 0.0])
    hands = [hand("started", spot), hand("held", spot + (40.0, 0.0)), hand("ended", spot + (40.0, 0.0)),
             hand("started", on_cube + (2.0, 2.0)), hand("held", on_cube + (2.0, 2.0) + (-50.0, 10.0)),
             hand("ended", on_cube + (-48.0, 12.0)), None]
    with Session(Fixed(), sf.scene, managers=[ScriptedHands(hands)], render=False) as s:
        frame = Frame(0, 0.0, np.zeros((240, 320, 3), np.uint8), K)
        results = [s.step(frame) for _ in hands]
    placed = [a for a in results[0].anchors]
    assert len(placed) == 1 and placed[0].trackable_id == "plane:0"
    np.testing.assert_allclose(placed[0].T_world_anchor[:3, 3], (0, 0, 0), atol=1e-9)
    # the held pinch after placing is not a grab: the cube did not move
    np.testing.assert_allclose(results[1].anchors[0].T_world_anchor[:3, 3], (0, 0, 0), atol=1e-9)
    # second pinch grabbed and dragged it 50 px left, 10 px down, on the floor
    end = results[-1].anchors[0]
    assert end.trackable_id == "plane:0" and abs(end.T_world_anchor[1, 3]) < 1e-9
    np.testing.assert_allclose(project_world(end.T_world_anchor[:3, 3]), spot + (-50.0, 10.0), atol=1e-6)
