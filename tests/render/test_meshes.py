"""Primitives (winding, normals, colours) and trimesh import from files written by trimesh."""

import numpy as np
import pytest
import trimesh
from PIL import Image

from arkit.render import MeshData, axes_mesh, box_mesh, mesh_from_trimesh, quad_mesh, sphere_mesh, text_label_mesh


def _face_normals(m: MeshData):
    v = m.vertices.astype(float)
    f = m.faces.astype(int)
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    return n, v[f].mean(axis=1)


@pytest.mark.parametrize("mesh", [box_mesh((0.2, 0.1, 0.3)), sphere_mesh(0.1, (1, 0, 0), 2)])
def test_closed_primitives_are_ccw_outward(mesh):
    n, c = _face_normals(mesh)
    assert np.all(np.einsum("ij,ij->i", n, c) > 0)  # centred on the origin: outward = away from it
    vn = mesh.normals[mesh.faces[:, 0]]
    assert np.all(np.einsum("ij,ij->i", n, vn) > 0)  # vertex normals agree with the winding
    assert trimesh.Trimesh(mesh.vertices, mesh.faces, process=True).is_watertight


def test_box_extents_and_per_face_colours():
    cols = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    m = box_mesh((0.2, 0.1, 0.3), cols)
    np.testing.assert_allclose(m.bounds, [[-0.1, -0.05, -0.15], [0.1, 0.05, 0.15]], atol=1e-7)
    top = m.vertices[:, 1] > 0.049
    up = m.normals[:, 1] > 0.5
    np.testing.assert_allclose(m.colors[top & up], [[0, 1, 0, 1]] * 4)


def test_axes_colours_point_along_axes():
    m = axes_mesh(0.2)
    for axis, rgb in enumerate([(1, 0.1, 0.1), (0.1, 0.85, 0.1), (0.15, 0.3, 1.0)]):
        tip = np.argmax(m.vertices[:, axis])
        assert m.vertices[tip, axis] == pytest.approx(0.2, abs=1e-6)
        np.testing.assert_allclose(m.colors[tip, :3], rgb, atol=1e-6)
    n, c = _face_normals(m)
    ok = np.linalg.norm(n, axis=1) > 1e-12
    assert np.all(np.einsum("ij,ij->i", n[ok], m.normals[m.faces[ok, 0]]) > 0)


def test_quad_is_xz_with_plus_y_normal_and_texture_top_at_minus_z():
    tex = np.zeros((4, 4, 3), np.uint8)
    q = quad_mesh(0.4, 0.2, texture=tex)
    n, _ = _face_normals(q)
    assert np.all(n[:, 1] > 0) and np.allclose(n[:, [0, 2]], 0)
    np.testing.assert_allclose(q.bounds, [[-0.2, 0, -0.1], [0.2, 0, 0.1]])
    top = q.vertices[:, 2] < 0
    assert np.all(q.uv[top, 1] == 1.0) and np.all(q.uv[~top, 1] == 0.0)   # v up: top row at -Z
    left = q.vertices[:, 0] < 0
    assert np.all(q.uv[left, 0] == 0.0)
    assert q.texture.shape == (4, 4, 4)


def test_text_label_flat_and_upright():
    lab = text_label_mesh("Hi\nthere", 0.05, color=(1, 1, 0), background=None)
    assert lab.unlit and lab.double_sided and lab.texture is not None
    ext = lab.bounds[1] - lab.bounds[0]
    assert ext[2] == pytest.approx(0.05) and ext[1] == 0 and ext[0] > 0.05
    a = lab.texture[:, :, 3]
    assert a.min() == 0 and a.max() == 255  # transparent background, opaque text
    up = text_label_mesh("Hi", 0.05, upright=True)
    n, _ = _face_normals(up)
    assert np.all(n[:, 2] > 0)
    ext = up.bounds[1] - up.bounds[0]
    assert ext[1] == pytest.approx(0.05) and ext[2] == 0
    top = up.vertices[:, 1] > 0
    assert np.all(up.uv[top, 1] == 1.0)


def test_bad_colour_raises():
    with pytest.raises(ValueError, match="0, 1"):
        box_mesh((1, 1, 1), (255, 0, 0))


def _textured_box():
    m = trimesh.creation.box((0.2, 0.2, 0.2))
    m = trimesh.Trimesh(m.vertices[m.faces].reshape(-1, 3), np.arange(36).reshape(-1, 3), process=False)
    uv = np.tile([[0, 0], [1, 0], [1, 1]], (12, 1)).astype(float)
    img = np.zeros((8, 8, 3), np.uint8)
    img[:4] = (255, 0, 0)
    mat = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(img),
                                              baseColorFactor=[255, 255, 255, 255])
    m.visual = trimesh.visual.TextureVisuals(uv=uv, material=mat)
    return m


def test_gltf_scene_transforms_textures_and_colours(tmp_path):
    scene = trimesh.Scene()
    tex_box = _textured_box()
    col_box = trimesh.creation.box((0.1, 0.1, 0.1))
    col_box.visual.face_colors = [0, 255, 0, 255]
    T = np.eye(4)
    T[:3, 3] = [1.0, 0.0, 0.0]
    scene.add_geometry(tex_box, node_name="tex")
    scene.add_geometry(col_box, node_name="col", transform=T)
    path = tmp_path / "scene.glb"
    scene.export(path)
    m = mesh_from_trimesh(trimesh.load(path))
    assert len(m.faces) == 24
    np.testing.assert_allclose(m.bounds, [[-0.1, -0.1, -0.1], [1.05, 0.1, 0.1]], atol=1e-5)
    assert m.texture is not None and m.uv is not None
    # the coloured box (x > 0.5) samples white atlas texels and keeps its green colour
    far = m.vertices[:, 0] > 0.5
    np.testing.assert_allclose(m.colors[far, :3], np.tile([0, 1, 0], (far.sum(), 1)), atol=0.01)
    h, w = m.texture.shape[:2]
    tu = np.clip((m.uv[far, 0] * w).astype(int), 0, w - 1)
    tv = np.clip(((1 - m.uv[far, 1]) * h).astype(int), 0, h - 1)
    assert np.all(m.texture[tv, tu] == 255)
    # the textured box's image sits in the atlas and its uv map into exactly that block
    near = ~far
    rows = (1 - m.uv[near, 1]) * h
    cols = m.uv[near, 0] * w
    assert rows.min() >= -1e-6 and rows.max() <= 8 + 1e-6 and cols.min() >= -1e-6 and cols.max() <= 8 + 1e-6
    assert rows.max() > 7.9 and cols.max() > 7.9
    assert np.all(m.texture[:4, :8, :3] == (255, 0, 0)) and np.all(m.texture[4:8, :8, :3] == 0)


def test_single_textured_mesh_keeps_its_texture(tmp_path):
    path = tmp_path / "box.glb"
    _textured_box().export(path)
    m = mesh_from_trimesh(trimesh.load(path))
    assert m.texture.shape == (8, 8, 4)
    assert np.all(m.texture[:4, :, :3] == (255, 0, 0))  # row 0 = top of the image


@pytest.mark.parametrize("ext", ["obj", "ply", "stl"])
def test_obj_ply_stl(tmp_path, ext):
    src = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
    src.apply_translation([0.0, 0.2, 0.0])
    if ext == "ply":
        src.visual.vertex_colors = np.tile([10, 200, 30, 255], (len(src.vertices), 1))
    path = tmp_path / f"m.{ext}"
    src.export(path)
    m = mesh_from_trimesh(trimesh.load(path))
    np.testing.assert_allclose(m.bounds, src.bounds, atol=1e-5)
    assert len(m.faces) == len(src.faces)
    n, c = _face_normals(m)
    assert np.mean(np.einsum("ij,ij->i", n, c - [0, 0.2, 0]) > 0) == 1.0
    if ext == "ply":
        np.testing.assert_allclose(m.colors[:, :3], np.tile([10, 200, 30], (len(m.colors), 1)) / 255.0, atol=1e-6)


def test_mesh_from_trimesh_rejects_other_types():
    with pytest.raises(TypeError):
        mesh_from_trimesh("model.glb")
