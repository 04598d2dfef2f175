"""Contact shadows: quad geometry, alpha gradient, placement under the content, scene-file keys."""

import textwrap

import numpy as np
import pytest

from arkit.core.errors import SceneFileError
from arkit.scene import overlays
from arkit.scene.graph import Scene, SceneNode
from arkit.scene.scene_file import load_scene
from arkit.scene.shadows import SHADOW_LIFT_M, add_contact_shadow, contact_shadow_mesh, radial_gradient_rgba


def test_gradient_is_dark_in_the_centre_and_transparent_at_the_rim():
    tex = radial_gradient_rgba(64, 0.8)
    assert tex.shape == (64, 64, 4) and tex.dtype == np.uint8
    assert np.all(tex[..., :3] == 0)
    a = tex[..., 3].astype(float) / 255.0
    assert a[31:33, 31:33].min() > 0.75                          # centre ~ opacity
    row = a[32, 32:]
    assert np.all(np.diff(row) <= 1e-9) and row[-1] < 0.01       # falls monotonically to ~0
    assert a[0, 0] == 0 and a[0, 63] == 0                        # corners (outside the circle) clear
    np.testing.assert_allclose(a, a.T, atol=1 / 255)             # radially symmetric
    np.testing.assert_allclose(a, a[::-1], atol=1 / 255)
    with pytest.raises(ValueError):
        radial_gradient_rgba(16, 1.5)


def test_shadow_quad_geometry():
    m = contact_shadow_mesh(0.2, 0.5)
    v = np.asarray(m.vertices)
    np.testing.assert_allclose(v[:, 1], 0.0)
    np.testing.assert_allclose(v[:, [0, 2]].min(axis=0), [-0.2, -0.2])
    np.testing.assert_allclose(v[:, [0, 2]].max(axis=0), [0.2, 0.2])
    np.testing.assert_allclose(np.asarray(m.normals)[:, 1], 1.0)
    assert m.texture is not None and m.texture.shape[2] == 4 and m.unlit
    with pytest.raises(ValueError):
        contact_shadow_mesh(0.0)


def test_shadow_lies_on_the_anchor_surface_under_the_content():
    T = np.eye(4)
    c, s = np.cos(0.5), np.sin(0.5)
    T[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    T[:3, 3] = [0.3, 0.1, -0.2]                                   # lifted, rotated, shifted box
    node = SceneNode("box", T, [overlays.box([0.2, 0.2, 0.1])])
    shadow = add_contact_shadow(node)
    scene = Scene()
    scene.add(node)
    _, items = scene.resolve([])
    sh = [it for it in items if it.mesh is shadow.meshes[0]]
    assert len(sh) == 1
    T_ws = sh[0].T_world_object
    np.testing.assert_allclose(T_ws[:3, :3], np.eye(3), atol=1e-12)      # flat on the surface
    np.testing.assert_allclose(T_ws[:3, 3], [0.3, SHADOW_LIFT_M, -0.2], atol=1e-12)
    # sized from the footprint: the rotated box's X-Z bounds
    corners = np.array([[sx * 0.1, 0, sz * 0.05] for sx in (-1, 1) for sz in (-1, 1)]) @ T[:3, :3].T
    half = (corners[:, [0, 2]].max(axis=0) - corners[:, [0, 2]].min(axis=0)).max() / 2
    r = np.asarray(shadow.meshes[0].vertices)[:, 0].max()
    assert half < r < 2.5 * half


def write(tmp_path, text):
    p = tmp_path / "scene.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def test_scene_file_shadow(tmp_path):
    sf = load_scene(write(tmp_path, """\
        content:
          - name: a
            box: 0.1
            shadow: true
          - name: b
            box: 0.1
            shadow: {radius_m: 0.3, opacity: 0.4}
          - name: c
            box: 0.1
            shadow: false
        """))
    a, b, c = sf.scene.roots()
    assert a.children[0].name == "a.shadow"
    assert np.asarray(b.children[0].meshes[0].vertices)[:, 0].max() == pytest.approx(0.3)
    assert b.children[0].meshes[0].texture[..., 3].max() == round(0.4 * 255)
    assert c.children == []


@pytest.mark.parametrize("shadow, key, what", [
    ("{radius_m: -1}", "content[0].shadow.radius_m", "positive"),
    ("{opacity: 2}", "content[0].shadow.opacity", "between 0 and 1"),
    ("{size: 2}", "content[0].shadow.size", "unknown key"),
    ("soft", "content[0].shadow", "true/false or a mapping"),
])
def test_scene_file_bad_shadow_names_line_and_key(tmp_path, shadow, key, what):
    p = write(tmp_path, f"""\
        content:
          - name: a
            box: 0.1
            shadow: {shadow}
        """)
    with pytest.raises(SceneFileError) as e:
        load_scene(p)
    msg = str(e.value)
    assert ":4:" in msg and key in msg and what in msg, msg
