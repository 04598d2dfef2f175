import subprocess
import sys


def test_import_arkit_render_is_light():
    code = ("import sys, arkit.render; "
            "heavy = [m for m in ('moderngl', 'cv2', 'trimesh', 'open3d') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_public_names():
    import arkit.render as r

    for name in ("create_renderer", "composite", "GLRenderer", "SoftwareRenderer", "MeshData", "DrawItem",
                 "RenderOutput", "mesh_from_trimesh", "box_mesh", "sphere_mesh", "axes_mesh", "quad_mesh",
                 "text_label_mesh"):
        assert hasattr(r, name), name
    import arkit

    assert arkit.create_renderer is r.create_renderer
