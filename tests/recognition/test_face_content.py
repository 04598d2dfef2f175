""""On each face put glasses.glb" from a scene file: one copy of the model on every face.

Real: the face detector and the face landmarker (models from the mediapipe==0.10.21 wheel) on a
Megamind.avi frame, through ``Session.from_scene``. Then two faces from fake FaceLandmarker results."""

import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.frame import Frame
from arkit.core.pose import from_rt
from arkit.core.trackables import CameraState, TrackingState
from arkit.recognition.face_geometry import CANONICAL_FACE_M, synthetic_points
from arkit.tracking.base import Tracker, TrackerOutput


class FixedCamera(Tracker):
    def track(self, frame):
        return TrackerOutput(CameraState(np.eye(4), TrackingState.TRACKING))


def red(img):
    return (img[..., 0].astype(int) - img[..., 1] > 120) & (img[..., 0].astype(int) - img[..., 2] > 120)


@pytest.fixture()
def glasses_scene(tmp_path):
    """glasses.glb: a 14 cm wide, 4 cm tall bar in the face frame (X across, Z down), 1 cm in front."""
    import trimesh

    bar = trimesh.creation.box(extents=(0.14, 0.01, 0.04))
    bar.apply_translation((0.0, 0.01, 0.0))
    bar.export(tmp_path / "glasses.glb")

    def write(recognition: str):
        p = tmp_path / "scene.yaml"
        p.write_text(textwrap.dedent(f"""\
            name: glasses
            {recognition}
            render: {{backend: software, samples: 1}}
            content:
              - name: glasses
                anchor: kind:face
                model: glasses.glb
                color: [255, 0, 0]
                unlit: true
            """))
        return p

    return write


@pytest.mark.parametrize("faces_cfg", ["true", "{landmarks: true}"])
def test_glasses_on_the_real_face(mp_models, glasses_scene, faces_cfg):
    import cv2

    from arkit.io.shared_data import shared_data_path
    from arkit.recognition import models
    from arkit.session import Session

    if faces_cfg != "true" and not (models.is_available("face_landmarker") or models.is_available("face_landmarker_legacy")):
        pytest.skip("no face landmarker in the model cache (arkit models import-wheel packs one)")

    video = shared_data_path("opencv_samples_data", "video", "Megamind.avi")
    if video is None:
        pytest.skip("real data Megamind.avi not present (set ARKIT_SHARED_DATA)")
    cap = cv2.VideoCapture(str(video))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 36)
    ok, bgr = cap.read()
    cap.release()
    assert ok
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    K = Intrinsics(w, h, 600.0, 600.0, (w - 1) / 2, (h - 1) / 2)
    with Session.from_scene(glasses_scene(f"recognition: {{faces: {faces_cfg}}}")) as s:
        s.tracker = FixedCamera()
        r = s.step(Frame(0, 0.0, rgb, K))
    faces = [t for t in r.trackables if t.kind == "face"]
    assert len(faces) == 1
    (a,) = r.anchors
    assert a.id == "anchor:glasses@face:0" and a.trackable_id == "face:0"
    np.testing.assert_allclose(a.T_world_anchor, faces[0].T_world_local)
    drawn = red(r.image) & ~red(rgb)
    assert drawn.sum() > 500
    ys, xs = np.nonzero(drawn)
    x, y, bw, bh = faces[0].box_xywh_px
    assert x - 0.2 * bw < xs.mean() < x + 1.2 * bw and y < ys.mean() < y + bh   # on the face
    if faces_cfg != "true":  # landmarker: the bar sits on the eye line
        eyes = faces[0].image_points_px[[33, 263]]
        assert abs(ys.mean() - eyes[:, 1].mean()) < 15 and xs.min() < eyes[0, 0] and xs.max() > eyes[1, 0]


def _result(faces, w, h):
    return SimpleNamespace(face_landmarks=[[SimpleNamespace(x=u / w, y=v / h, z=0.0) for u, v in px] for px in faces],
                           face_blendshapes=[], facial_transformation_matrixes=[])


def test_glasses_on_each_landmarked_face(glasses_scene):
    from arkit.recognition.managers import FaceManager
    from arkit.scene.scene_file import load_scene
    from arkit.session import Session

    K = Intrinsics(320, 240, 300.0, 300.0, 159.5, 119.5)
    R = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])   # frontal faces
    poses = [from_rt(R, (-0.12, 0.0, 0.7)), from_rt(R, (0.13, 0.03, 0.8))]
    faces = []
    for T in poses:
        px = np.tile(K.project(synthetic_points(T)).mean(axis=0), (478, 1))
        px[list(CANONICAL_FACE_M)] = K.project(synthetic_points(T))
        faces.append(px)
    fake = SimpleNamespace(detect=lambda img: _result(faces, 320, 240), close=lambda: None)
    sf = load_scene(glasses_scene("recognition: {faces: {landmarks: true}}"))
    assert sf.recognition["faces"] == {"landmarks": True}
    with Session(FixedCamera(), sf.scene, managers=[FaceManager(landmarks=True, landmarker=fake)],
                 renderer_backend="software", samples=1) as s:
        r = s.step(Frame(0, 0.0, np.zeros((240, 320, 3), np.uint8), K))
    assert [a.id for a in r.anchors] == ["anchor:glasses@face:0", "anchor:glasses@face:1"]
    for a, T in zip(r.anchors, poses):
        np.testing.assert_allclose(a.T_world_anchor, T, atol=1e-6)
        # the bar is drawn across the eye line: between the outer eye corners, around the origin
        u, v = K.project(T[:3, 3][None])[0]
        eyes = K.project(synthetic_points(T))[[0, 3]]  # outer corners 33, 263 (CANONICAL_FACE_M order)
        assert red(r.image[int(v) - 2:int(v) + 3, int(u) - 2:int(u) + 3]).all()
        row = red(r.image[int(round(v))])
        cols = np.nonzero(row)[0]
        near = cols[np.abs(cols - u) < 60]
        assert near.min() < eyes[:, 0].min() and near.max() > eyes[:, 0].max()
    assert red(r.image).sum() > 2 * 500
    # between the two faces nothing is drawn
    mid = int(K.project(((poses[0][:3, 3] + poses[1][:3, 3]) / 2)[None])[0][0])
    assert not red(r.image[:, mid - 1:mid + 2]).any()
