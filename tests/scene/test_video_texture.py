"""A video played as a texture on a quad: frame sequence, looping, sizing, GL cache, scene-file errors."""

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, SceneFileError
from arkit.core.frame import Frame
from arkit.core.trackables import CameraState, TrackingState
from arkit.scene.scene_file import load_scene
from arkit.scene.video_texture import DEFAULT_WIDTH_M, VideoNode, VideoTexture, advance_video_textures
from arkit.session import Session
from arkit.tracking.base import Tracker, TrackerOutput

COLORS = np.array([[220, 30, 30], [30, 200, 40], [40, 50, 220]], np.uint8)  # red, green, blue


class FixedCamera(Tracker):
    def track(self, frame):
        return TrackerOutput(CameraState(np.eye(4), TrackingState.TRACKING))


@pytest.fixture
def video(tmp_path):
    from arkit.io.video_writer import VideoWriter

    path = tmp_path / "clip.mp4"
    with VideoWriter(path, 10.0, crf=4) as w:
        for c in COLORS:
            w.write(np.broadcast_to(c, (48, 64, 3)).copy())
    return path


def _scene_file(tmp_path, content: str):
    p = tmp_path / "scene.yaml"
    p.write_text("name: v\ntracking: {type: none}\ncontent:\n" + content)
    return p


def _nearest(rgb):
    return int(np.argmin(np.abs(COLORS.astype(int) - np.asarray(rgb, int)).sum(axis=1)))


def test_video_texture_loops(video):
    vt = VideoTexture(video)
    assert vt.size_px == (64, 48)
    seq = [_nearest(vt.advance()[24, 32]) for _ in range(7)]
    assert seq == [0, 1, 2, 0, 1, 2, 0]
    assert vt.loops == 2 and vt.frame_index == 0
    vt.close()
    once = VideoTexture(video, loop=False)
    assert [_nearest(once.advance()[0, 0]) for _ in range(5)] == [0, 1, 2, 2, 2]
    once.close()


def test_video_texture_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="nope.mp4"):
        VideoTexture(tmp_path / "nope.mp4")


@pytest.mark.parametrize("backend", ["gl", "software"])
def test_quad_shows_frame_sequence_and_gl_cache_bounded(tmp_path, video, backend):
    if backend == "gl":
        from arkit.core.errors import RendererError
        from arkit.render import GLRenderer

        try:
            GLRenderer(16, 16, samples=0).close()
        except RendererError as e:
            pytest.skip(f"no OpenGL context here: {e}")
    sf = load_scene(_scene_file(tmp_path, f"""  - name: clip
    video: {video}
    size_m: [0.4, 0.3]
    position_m: [0, 0, 1.0]
    rotation_deg: [-90, 0, 0]
"""))
    node = sf.scene.node("clip")
    assert isinstance(node, VideoNode)
    K = Intrinsics(160, 120, 150.0, 150.0, 79.5, 59.5)
    grey = np.full((120, 160, 3), 128, np.uint8)
    seen, cache_sizes = [], []
    with Session(FixedCamera(), sf.scene, renderer_backend=backend, samples=0) as s:
        for i in range(50 if backend == "gl" else 5):
            img = s.step(Frame(i, i / 30.0, grey, K)).image
            if i < 5:
                # the quad 0.4 x 0.3 m at 1 m covers +-30 x +-22 px around the centre
                patch = img[45:75, 60:100].reshape(-1, 3).astype(int)
                mean = patch.mean(axis=0)
                assert np.abs(patch - mean).max() < 25, "the quad is not one solid colour"
                assert np.abs(mean - COLORS[_nearest(mean)]).max() < 25
                seen.append(_nearest(mean))
                assert (img[5, 5] == 128).all() and (img[115, 155] == 128).all()  # outside the quad
            if backend == "gl":
                cache_sizes.append(len(s.renderer._meshes))
        assert s.renderer.backend == backend
    assert seen == [0, 1, 2, 0, 1]
    if backend == "gl":  # one GPU copy for the video quad, replaced every frame
        assert len(cache_sizes) == 50 and max(cache_sizes) == 1


def test_size_from_anchor_trackable(video):
    from arkit.scene.graph import Scene

    class Poster:
        id, kind, width_m, height_m = "image:poster", "image", 0.5, 0.25

    scene = Scene()
    node = scene.add(VideoNode("clip", VideoTexture(video)), on="image:poster")
    assert advance_video_textures(scene, [Poster()]) == 1
    b = node.meshes[0].bounds
    assert np.allclose(b[1] - b[0], [0.5, 0.0, 0.25], atol=1e-6)
    key = node.meshes[0].key
    advance_video_textures(scene, [])  # target not seen: default width, video aspect
    b = node.meshes[0].bounds
    assert np.allclose(b[1] - b[0], [DEFAULT_WIDTH_M, 0.0, DEFAULT_WIDTH_M * 48 / 64], atol=1e-6)
    assert node.meshes[0].key == key
    fixed = VideoNode("fixed", VideoTexture(video), size_m=(0.2, 0.1))
    fixed.advance(Poster())
    b = fixed.meshes[0].bounds
    assert np.allclose(b[1] - b[0], [0.2, 0.0, 0.1], atol=1e-6)


@pytest.mark.parametrize("content, key, line, message", [
    ("    video: missing.mp4\n", "content[0].video", 5, "not found"),
    ("    video: {v}\n    size_m: [0.3]\n", "content[0].size_m", 6, "2 numbers"),
    ("    video: {v}\n    size_m: [0.3, -1]\n", "content[0].size_m", 6, "positive"),
    ("    video: {v}\n    size_m: 0.3\n", "content[0].size_m", 6, "list"),
    ("    box: 0.1\n    size_m: [0.3, 0.2]\n", "content[0].size_m", 6, "belongs to 'video'"),
    ("    video: {v}\n    scale: 2\n", "content[0].scale", 6, "size_m"),
    ("    video: {v}\n    box: 0.1\n", "content[0].video", 5, "one shape"),
])
def test_scene_file_errors(tmp_path, video, content, key, line, message):
    p = _scene_file(tmp_path, "  - name: clip\n" + content.replace("{v}", str(video)))
    with pytest.raises(SceneFileError, match=message) as e:
        load_scene(p)
    assert e.value.key == key and e.value.line == line
    assert f"scene.yaml:{line}" in str(e.value) and key in str(e.value)


def test_scene_file_not_a_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(SceneFileError, match=r"content\[0\]\.video"):
        load_scene(_scene_file(tmp_path, f"  - name: clip\n    video: {bad}\n"))


def test_video_on_image_target_covers_it_upright(tmp_path):
    """Anchored to ``image:poster`` with no size_m: the quad has the target's physical size and the
    video's top edge is at the poster's top edge."""
    from arkit.io.video_writer import VideoWriter
    from arkit.recognition.target_tracking import ImageTargetTrackable

    path = tmp_path / "split.mp4"
    img = np.zeros((48, 64, 3), np.uint8)
    img[:24] = COLORS[0]  # top half red
    img[24:] = COLORS[2]  # bottom half blue
    with VideoWriter(path, 10.0, crf=4) as w:
        w.write(img)
    T = np.eye(4)
    T[:3, :3] = np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]])  # +Y towards the camera, +Z down in the image
    T[:3, 3] = [0, 0, 1.0]
    poster = ImageTargetTrackable("image:poster", "image", T, target_name="poster", width_m=0.4, height_m=0.2)

    class PosterCamera(Tracker):
        def track(self, frame):
            return TrackerOutput(CameraState(np.eye(4), TrackingState.TRACKING), (poster,))

    sf = load_scene(_scene_file(tmp_path, f"  - name: clip\n    anchor: image:poster\n    video: {path}\n"))
    K = Intrinsics(160, 120, 150.0, 150.0, 79.5, 59.5)
    grey = np.full((120, 160, 3), 128, np.uint8)
    with Session(PosterCamera(), sf.scene, renderer_backend="software") as s:
        out = s.step(Frame(0, 0.0, grey, K)).image
    # the poster projects to x 49.5..109.5, y 44.5..74.5 (0.4 x 0.2 m at 1 m, f = 150 px)
    assert _nearest(out[48:57, 55:105].reshape(-1, 3).mean(axis=0)) == 0  # top half red
    assert _nearest(out[63:72, 55:105].reshape(-1, 3).mean(axis=0)) == 2  # bottom half blue
    assert _nearest(out[46, 51]) == 0 and _nearest(out[73, 108]) == 2  # corners just inside it
    for y, x in [(40, 80), (79, 80), (59, 45), (59, 114)]:  # just outside the poster
        assert (out[y, x] == 128).all(), (y, x, out[y, x])
