"""Fixtures for renderer tests: a GL renderer (skipped when no EGL context) and camera helpers."""

import numpy as np
import pytest

from arkit.core.pose import from_rt


def _look_at(eye, target, up=(0.0, 1.0, 0.0)):
    """T_world_camera (OpenCV axes) of a camera at ``eye`` looking at ``target``, ``up`` up on screen."""
    eye = np.asarray(eye, float)
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, float))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return from_rt(np.stack([x, y, z], axis=1), eye)


@pytest.fixture
def look_at():
    return _look_at


@pytest.fixture(scope="module")
def gl_renderer_640():
    from arkit.core.errors import RendererError
    from arkit.render import GLRenderer

    try:
        r = GLRenderer(640, 480, samples=4)
    except RendererError as e:
        pytest.skip(f"no OpenGL context here: {e}")
    yield r
    r.close()


@pytest.fixture(scope="module")
def sw_renderer_640():
    from arkit.render import SoftwareRenderer

    r = SoftwareRenderer(640, 480)
    yield r
    r.close()
