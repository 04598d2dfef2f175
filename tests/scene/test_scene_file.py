import textwrap

import numpy as np
import pytest

from arkit.core.errors import SceneFileError
from arkit.core.trackables import MarkerTrackable, TrackableState
from arkit.scene.scene_file import load_scene


def write(tmp_path, text, name="scene.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_unknown_key_names_file_line_and_key(tmp_path):
    p = write(tmp_path, """\
        name: t
        tracking:
          type: markers
          marker_sise_m: 0.1
        """)
    with pytest.raises(SceneFileError) as e:
        load_scene(p)
    msg = str(e.value)
    assert str(p) in msg and ":4:" in msg and "tracking.marker_sise_m" in msg and "marker_size_m" in msg
    assert e.value.line == 4


def test_wrong_type(tmp_path):
    p = write(tmp_path, """\
        content:
          - name: cube
            box: [0.1, 0.1, 0.1]
            position_m: [0, "up", 0]
        """)
    with pytest.raises(SceneFileError, match=r":4:.*content\[0\]\.position_m.*3 numbers"):
        load_scene(p)
    p = write(tmp_path, "render:\n  samples: many\n")
    with pytest.raises(SceneFileError, match=r":2:.*render\.samples.*an integer"):
        load_scene(p)


def test_missing_asset(tmp_path):
    p = write(tmp_path, """\
        content:
          - name: duck
            anchor: marker:3
            model: assets/duck.glb
        """)
    with pytest.raises(SceneFileError, match=r":4:.*content\[0\]\.model.*asset not found.*duck\.glb"):
        load_scene(p)


def test_invalid_yaml_and_missing_file(tmp_path):
    p = write(tmp_path, "content:\n  - name: [unclosed\n")
    with pytest.raises(SceneFileError, match="invalid YAML"):
        load_scene(p)
    with pytest.raises(SceneFileError, match="file not found"):
        load_scene(tmp_path / "nope.yaml")


def test_bad_anchor_and_colour(tmp_path):
    p = write(tmp_path, "content:\n  - box: 0.1\n    anchor: somewhere\n")
    with pytest.raises(SceneFileError, match=r":3:.*anchor"):
        load_scene(p)
    p = write(tmp_path, "content:\n  - box: 0.1\n    color: [300, 0, 0]\n")
    with pytest.raises(SceneFileError, match=r":3:.*colour"):
        load_scene(p)


def test_content_follows_marker(tmp_path):
    p = write(tmp_path, """\
        name: demo
        tracking: {type: markers, dictionary: DICT_6X6_250, marker_size_m: 0.1}
        content:
          - name: cube
            anchor: marker:3
            box: [0.1, 0.2, 0.3]
            position_m: [0, 0.1, 0]
            rotation_deg: [0, 90, 0]
            color: "#ff0000"
            children:
              - name: tag
                label: hello
                position_m: [0, 0.2, 0]
          - name: origin
            axes: 0.1
        """)
    sf = load_scene(p)
    assert sf.name == "demo" and sf.tracking["marker_size_m"] == 0.1
    T_world_marker = np.eye(4)
    T_world_marker[:3, 3] = [1, 0, 2]
    m = MarkerTrackable("marker:3", "marker", T_world_marker, TrackableState.TRACKING, marker_id=3)
    anchors, items = sf.scene.resolve([m])
    ids = sorted(a.id for a in anchors)
    assert ids == ["anchor:cube", "anchor:origin"]
    cube_items = [it for it in items if np.allclose(it.T_world_object[:3, 3], [1, 0.1, 2])]
    assert cube_items, "cube placed 0.1 m above the marker"
    # 90 degrees about Y: local x -> world -z
    np.testing.assert_allclose(cube_items[0].T_world_object[:3, 0], [0, 0, -1], atol=1e-12)
    label_items = [it for it in items if np.allclose(it.T_world_object[:3, 3], [1, 0.3, 2])]
    assert label_items, "child label placed relative to its parent"
    # without the marker only the world content is drawn
    anchors, items = sf.scene.resolve([])
    assert [a.id for a in anchors] == ["anchor:origin"]


def test_model_target_tracking_section(tmp_path):
    p = write(tmp_path, "tracking:\n  type: model_target\n  mesh: box.ply\n")
    with pytest.raises(SceneFileError, match="needs 'features'"):
        load_scene(p)
    p = write(tmp_path, "tracking:\n  type: model_target\n  features: f.yml\n  mesh: box.ply\n")
    with pytest.raises(SceneFileError, match=r":3:.*tracking\.features.*not found"):
        load_scene(p)
    p = write(tmp_path, "tracking:\n  type: markers\n  mesh: box.ply\n")
    with pytest.raises(SceneFileError, match="belongs to tracking type 'model_target'"):
        load_scene(p)


def test_shared_paths_resolve_in_the_real_data_folder(tmp_path, monkeypatch):
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "sub" / "calib.yaml").write_text("width: 64\nheight: 48\nfx: 50\nfy: 50\ncx: 32\ncy: 24\n")
    monkeypatch.setenv("ARKIT_SHARED_DATA", str(tmp_path / "data"))
    p = write(tmp_path, "intrinsics: shared:sub/calib.yaml\n")
    assert load_scene(p).intrinsics == str(tmp_path / "data" / "sub" / "calib.yaml")
    p = write(tmp_path, "intrinsics: shared:sub/missing.yaml\n")
    with pytest.raises(SceneFileError, match=r":1:.*intrinsics.*does not exist"):
        load_scene(p)


def test_model_target_sample_loads(shared_data):
    from pathlib import Path

    from arkit.session import Session

    shared_data("opencv_samples_data", "pose_box_tutorial", "cookies_ORB.yml")
    root = Path(__file__).resolve().parents[2]
    s = Session.from_scene(root / "samples" / "model_target_box" / "scene.yaml", render=False)
    assert type(s.tracker).__name__ == "ModelTargetCameraTracker"
