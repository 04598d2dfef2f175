"""Cross-check with arkit.synthetic: an image target rendered by the sequence generator is found
at the pose the generator put it (same surface-anchor convention, metric size, world frame)."""

import json

import numpy as np
import pytest

RECIPE = {
    "name": "poster_floor",
    "seed": 3,
    "room": {"size": [4.0, 2.6, 4.0], "floor": {"type": "planks"}, "walls": {"type": "bricks"},
             "ceiling": {"type": "noise"}},
    "image_targets": [{"name": "floor_poster", "position": [0.0, 0.0, 0.0], "normal": [0, 1, 0], "yaw_deg": 20,
                       "width": 0.5, "height": 0.35, "texture": {"type": "poster"}}],
    "camera": {"type": "orbit", "target": [0.0, 0.0, 0.0], "distance_m": [0.7, 0.9],
               "elevation_deg": [50.0, 65.0], "speed_mps": 0.3},
}


def test_generated_poster_pose_matches_ground_truth(tmp_path):
    import cv2
    import yaml

    gen = pytest.importorskip("arkit.synthetic.generator")
    from arkit.core.camera import Intrinsics
    from arkit.core.errors import RendererError
    from arkit.core.pose import from_rt, quat_wxyz_to_matrix, quat_xyzw_to_wxyz, rotation_angle_deg
    from arkit.recognition.image_targets import ImageTargetDatabase

    try:
        out = gen.generate_sequence(RECIPE, tmp_path / "seq", num_frames=3, seed=0)
    except RendererError as e:
        pytest.skip(f"no renderer for the synthetic generator: {e}")
    scene = json.loads((out / "scene.json").read_text())
    K = Intrinsics.from_dict(yaml.safe_load((out / "intrinsics.yaml").read_text()))
    (t,) = scene["image_targets"]
    texture = cv2.cvtColor(cv2.imread(str(out / "targets" / f"{t['name']}.png")), cv2.COLOR_BGR2RGB)
    db = ImageTargetDatabase.build([(t["name"], texture, t["width_m"])])
    T_world_target = np.array(t["T_world_local"])
    rows = [list(map(float, line.split())) for line in (out / "groundtruth.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    frames = sorted((out / "rgb").glob("*.png"))
    assert len(frames) == len(rows) == 3
    for path, row in zip(frames, rows):
        T_world_camera = from_rt(quat_wxyz_to_matrix(quat_xyzw_to_wxyz(row[4:8])), row[1:4])
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        (det,) = db.detect(image, K)
        T = T_world_camera @ det.T_camera_target
        assert np.linalg.norm(T[:3, 3] - T_world_target[:3, 3]) < 0.005
        assert rotation_angle_deg(T, T_world_target) < 0.5
