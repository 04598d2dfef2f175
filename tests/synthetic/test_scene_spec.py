"""Scene description, recipes, textures and the analytic ray caster (no rendering)."""

from pathlib import Path

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import SceneFileError
from arkit.core.pose import from_rt, invert, transform_points
from arkit.synthetic.raycast import raycast_depth
from arkit.synthetic.recipes import RECIPE_DIR, list_recipes, load_recipe
from arkit.synthetic.scene_spec import MarkerSpec, surface_rotation

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("normal", [(0, 1, 0), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0.3, 0.2, 0.9)])
@pytest.mark.parametrize("yaw", [0.0, 37.0])
def test_surface_rotation_is_proper_with_normal_as_y(normal, yaw):
    R = surface_rotation(normal, yaw)
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R[:, 1], n, atol=1e-12)
    if abs(n[1]) < 0.9 and yaw == 0.0:
        assert R[1, 2] < 0  # texture top row (local -Z) is up on a wall


def test_marker_corners_follow_the_marker_frame_convention():
    # marker on the floor, default frame: +X world x, +Z world z; top edge is at -Z
    m = MarkerSpec(7, "DICT_6X6_250", 0.2, from_rt(t=[1.0, 0.0, 2.0]))
    c = m.corners_world()
    np.testing.assert_allclose(c[0], [0.9, 0.0, 1.9])   # top-left
    np.testing.assert_allclose(c[1], [1.1, 0.0, 1.9])   # top-right: +X along the top edge
    np.testing.assert_allclose(c[3], [0.9, 0.0, 2.1])   # bottom-left: +Z towards the bottom edge
    # +Y = (TL->BL) x (TL->TR) points out of the printed face
    n = np.cross(c[3] - c[0], c[1] - c[0])
    assert n[1] > 0


def test_board_layout_matches_cv2_gridboard():
    import cv2

    spec = load_recipe("marker_board")
    b = spec.boards[0]
    d = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_6X6_250)
    ref = cv2.aruco.GridBoard((5, 7), 0.04, 0.01, d)
    ids, corners = b.object_points()
    np.testing.assert_array_equal(ids, np.asarray(ref.getIds()).ravel())
    np.testing.assert_allclose(corners, np.asarray(ref.getObjPoints()), atol=1e-6)
    markers = b.markers()
    assert len(markers) == 35
    T = b.T_world_board
    for m, c in zip(markers, corners):
        np.testing.assert_allclose(m.corners_world(), transform_points(T, c), atol=1e-9)
        np.testing.assert_allclose(m.T_world_marker[:3, 1], [0, 1, 0], atol=1e-12)  # face up
        assert m.T_world_marker[1, 3] == pytest.approx(0.001)  # 1 mm above the floor
    # the board lies in the world X-Z plane, centred at the recipe position
    allc = np.concatenate([m.corners_world() for m in markers])
    np.testing.assert_allclose(allc[:, 1], 0.001)
    np.testing.assert_allclose(allc.mean(axis=0)[[0, 2]], [0.0, 0.0], atol=1e-9)


@pytest.mark.parametrize("name", ["marker_room", "marker_board", "textured_room", "turn_away"])
def test_builtin_recipes_load_and_planes_are_consistent(name):
    spec = load_recipe(name)
    assert spec.name == name
    d = spec.to_dict()
    names = [s["name"] for s in d["surfaces"]]
    assert len(names) == len(set(names))
    for s in spec.surfaces():
        n, off = s.plane
        assert np.linalg.norm(n) == pytest.approx(1.0)
        np.testing.assert_allclose(s.corners_world() @ n + off, 0.0, atol=1e-9)
    kinds = {p["kind"] for p in d["planes"]}
    assert {"floor", "wall", "ceiling"} <= kinds
    if name in ("marker_room", "turn_away"):
        assert len(d["markers"]) >= 6 and all(m["dictionary"] == "DICT_6X6_250" for m in d["markers"])
    if name == "textured_room":
        assert d["markers"] == []


def test_dataset_copies_match_package_recipes():
    pkg = sorted(p.name for p in RECIPE_DIR.glob("*.yaml"))
    assert set(list_recipes()) >= {"marker_room", "marker_board", "textured_room", "turn_away"}
    for name in pkg:
        copy = REPO / "datasets" / name
        assert copy.is_file(), f"datasets/{name} missing (copy arkit/synthetic/recipes/{name})"
        assert copy.read_text() == (RECIPE_DIR / name).read_text(), f"datasets/{name} differs from the package copy"


def test_bad_recipes_raise_scene_file_errors(tmp_path):
    with pytest.raises(SceneFileError, match="built-in recipes"):
        load_recipe("no_such_recipe")
    with pytest.raises(SceneFileError, match="markers\\[0\\].size"):
        load_recipe({"markers": [{"id": 1, "size": -1, "position": [0, 0, 0]}]})
    with pytest.raises(SceneFileError, match="unknown field"):
        load_recipe({"markers": [{"id": 1, "size": 0.1, "position": [0, 0, 0], "colour": 3}]})
    with pytest.raises(SceneFileError, match="used twice"):
        load_recipe({"markers": [{"id": 1, "size": 0.1, "position": [0, 0, 0]},
                                 {"id": 1, "size": 0.1, "position": [1, 0, 0]}]})
    with pytest.raises(SceneFileError, match="texture type"):
        load_recipe({"room": {"floor": {"type": "marble"}}})
    with pytest.raises(SceneFileError, match="room.floor.texture"):
        load_recipe({"room": {"floor": {"type": "tiles", "tile_size": 0.3}}})
    with pytest.raises(SceneFileError, match="camera"):
        load_recipe({"camera": {"type": "orbit", "radius": 2.0}})
    with pytest.raises(SceneFileError, match="out of range"):
        load_recipe({"markers": [{"id": 250, "size": 0.1, "position": [0, 0, 0]}]})
    with pytest.raises(SceneFileError, match="unknown marker dictionary"):
        load_recipe({"markers": [{"id": 1, "size": 0.1, "position": [0, 0, 0], "dictionary": "DICT_9X9"}]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmarkers: [\n")
    with pytest.raises(SceneFileError, match="bad.yaml"):
        load_recipe(bad)


def test_textures_are_seeded_and_marker_texture_has_quiet_zone():
    from arkit.synthetic.textures import make_texture, marker_texture

    for kind in ("noise", "tiles", "planks", "bricks", "poster", "checker", "solid"):
        a = make_texture({"type": kind}, 0.5, 0.25, seed=3, px_per_m=200)
        b = make_texture({"type": kind}, 0.5, 0.25, seed=3, px_per_m=200)
        assert a.shape == (50, 100, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        if kind != "solid":
            assert a.std() > 10  # textured, not flat
    m = marker_texture("DICT_6X6_250", 5, module_px=4, quiet_modules=1.0)
    assert m.shape == (40, 40, 3)
    assert (m[:4] == 255).all() and (m[:, -4:] == 255).all()   # white quiet zone
    assert (m[4:8, 4:36] == 0).all()                          # black marker border


def test_raycast_hits_the_floor_where_expected():
    spec = load_recipe("textured_room")
    K = Intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    # camera 1.5 m above the floor looking straight down (OpenCV z = world -Y)
    R = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
    T = from_rt(R, [1.0, 1.5, -1.8])
    depth, idx = raycast_depth(spec.surfaces(), K, T)
    names = [s.name for s in spec.surfaces()]
    assert names[idx[24, 32]] == "floor"
    assert depth[24, 32] == pytest.approx(1.5, abs=1e-9)
    p = transform_points(T, K.unproject([[32.0, 24.0]], depth[24, 32]))
    assert p[0, 1] == pytest.approx(0.0, abs=1e-9)
    assert np.all(depth > 0)  # closed room: every ray hits something
    assert invert(T).shape == (4, 4)


def test_user_recipe_file_with_an_image_target_from_a_file(tmp_path):
    import cv2

    from arkit.synthetic.scene_meshes import build_draw_items, image_target_textures

    img = np.zeros((60, 90, 3), np.uint8)
    img[:, :45] = (255, 0, 0)   # left half red (RGB)
    img[:, 45:] = (0, 0, 255)   # right half blue
    cv2.imwrite(str(tmp_path / "logo.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    (tmp_path / "my.yaml").write_text(
        "name: mine\nroom: null\n"
        "image_targets:\n"
        "  - {name: logo, position: [0, 1, -1], normal: [0, 0, 1], width: 0.3, height: 0.2,\n"
        "     texture: {type: image, path: logo.png}}\n"
        "camera: {type: orbit, target: [0, 1, -1]}\n")
    spec = load_recipe(tmp_path / "my.yaml")
    tex = image_target_textures(spec)["logo"]
    assert tex.shape[1] > tex.shape[0]
    assert tex[:, : tex.shape[1] // 3, 0].mean() > 200 and tex[:, -tex.shape[1] // 3:, 2].mean() > 200
    assert len(build_draw_items(spec)) == 1
    t = spec.to_dict()["image_targets"][0]
    assert t["width_m"] == 0.3 and t["image"] == "targets/logo.png"
    np.testing.assert_allclose(np.array(t["T_world_local"])[:3, 1], [0, 0, 1], atol=1e-12)
