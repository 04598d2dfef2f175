"""`import arkit` (and the public names) must not pull in the heavy libraries."""

import subprocess
import sys


def test_import_arkit_is_light():
    code = ("import sys, arkit; arkit.Session; arkit.open_source; arkit.Intrinsics; arkit.load_scene; "
            "print(','.join(m for m in ('cv2', 'open3d', 'mediapipe', 'moderngl', 'av', 'torch') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "", f"heavy modules imported by 'import arkit': {r.stdout.strip()}"
