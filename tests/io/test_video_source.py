import warnings

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, IntrinsicsError, SourceError
from arkit.io.intrinsics_files import save_intrinsics
from arkit.io.video_source import VideoFileSource

K = Intrinsics(128, 96, 100.0, 100.0, 63.5, 47.5)


def test_reads_frames_with_timestamps(make_video, pattern):
    path = make_video("clip.mp4", n=20, fps=10)
    with VideoFileSource(path, intrinsics=K) as src:
        assert src.fps == pytest.approx(10)
        assert src.num_frames == 20
        assert src.intrinsics is K and src.size == (128, 96)
        frames = list(src)
    assert [f.index for f in frames] == list(range(20))
    assert np.allclose([f.timestamp_s for f in frames], np.arange(20) / 10.0, atol=1e-6)
    for i, f in enumerate(frames):
        assert np.abs(f.image_rgb.astype(int) - pattern(i).astype(int)).mean() < 6
    assert src.skipped_frames == 0


def test_iterating_twice_restarts(make_video):
    src = VideoFileSource(make_video(n=5), intrinsics=K)
    assert len(list(src)) == 5
    assert len(list(src)) == 5
    assert len(list(VideoFileSource(make_video("b.mp4", n=5), intrinsics=K, max_frames=3))) == 3


def test_guesses_intrinsics_with_warning(make_video):
    with pytest.warns(UserWarning, match="no intrinsics given"):
        src = VideoFileSource(make_video(n=2), hfov_deg=90)
    assert src.intrinsics.size == (128, 96)
    assert src.intrinsics.fx == pytest.approx(64.0)


def test_intrinsics_file_and_size_mismatch(make_video, tmp_path):
    path = make_video(n=2)
    kfile = save_intrinsics(K, tmp_path / "k.yaml")
    assert VideoFileSource(path, intrinsics=kfile).intrinsics == K
    with pytest.raises(IntrinsicsError, match="640x480.*128x96"):
        VideoFileSource(path, intrinsics=Intrinsics(640, 480, 500, 500, 320, 240))
    wrong = save_intrinsics(Intrinsics(640, 480, 500, 500, 320, 240), tmp_path / "wrong.yaml")
    with pytest.raises(IntrinsicsError, match="640x480.*128x96"):
        VideoFileSource(path, intrinsics=wrong)


def test_missing_file_and_not_a_video(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        VideoFileSource(tmp_path / "missing.mp4", intrinsics=K)
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is a text file, not a video\n" * 50)
    with pytest.raises(SourceError, match="notes.mp4"):
        VideoFileSource(fake, intrinsics=K)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="empty.avi"):
        VideoFileSource(empty, intrinsics=K)


def test_corrupt_frames_in_the_middle_are_skipped(make_video, pattern):
    path = make_video("clip.avi", n=30, codec="mjpeg", fps=10)
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    rng = np.random.default_rng(0)
    data[mid:mid + 600] = rng.integers(0, 256, 600, dtype=np.uint8).tobytes()
    bad = path.with_name("corrupt.avi")
    bad.write_bytes(bytes(data))
    src = VideoFileSource(bad, intrinsics=K)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = list(src)
    assert src.skipped_frames >= 1
    assert any("skipping an unreadable frame" in str(w.message) and "corrupt.avi" in str(w.message) for w in caught)
    assert 20 <= len(frames) < 30
    # every frame read is a real picture of the clip (not decoder garbage), in order, and the
    # frames after the damage are still there (AVI timestamps may shift after a lost packet,
    # so frames are identified by content)
    originals = np.stack([pattern(i).astype(int) for i in range(30)])
    ids = []
    for f in frames:
        err = np.abs(originals - f.image_rgb.astype(int)).mean(axis=(1, 2, 3))
        assert err.min() < 5, f"frame {f.index} matches no original frame (error {err.min():.1f})"
        ids.append(int(err.argmin()))
    assert np.all(np.diff(ids) > 0)
    assert len(set(range(30)) - set(ids)) == 30 - len(frames)
    assert max(ids) >= 25, "no frame after the corrupt part was read"
    assert np.all(np.diff([f.timestamp_s for f in frames]) > 0)
    assert [f.index for f in frames] == list(range(len(frames)))


def test_real_video(shared_data):
    path = shared_data("opencv_samples_data", "pose_box_tutorial", "box.mp4")
    K = Intrinsics(640, 480, 640 * 55 / 22.3, 480 * 55 / 14.9, 320, 240)
    src = VideoFileSource(path, intrinsics=K, max_frames=30)
    frames = list(src)
    assert len(frames) == 30 and frames[0].image_rgb.shape == (480, 640, 3)
    t = [f.timestamp_s for f in frames]
    assert np.all(np.diff(t) > 0)  # this file has out-of-order pts; timestamps still increase
    assert t[-1] == pytest.approx(29 / 30, abs=0.15)


def test_frame_to_rgb_uses_opencv_only_where_its_colours_match_ffmpegs(make_video):
    import av

    from arkit.io.video_source import frame_to_rgb

    with av.open(str(make_video(n=3))) as c:
        decoded = list(c.decode(video=0))
    for vf in decoded:   # untagged BT.601 yuv420p: OpenCV's conversion, within rounding of FFmpeg's
        ref, got = vf.to_ndarray(format="rgb24"), frame_to_rgb(vf)
        assert got.shape == ref.shape and got.dtype == np.uint8
        d = np.abs(got.astype(int) - ref.astype(int))
        assert d.mean() < 1.5 and np.percentile(d, 99) <= 6
    rgb = decoded[0].to_ndarray(format="rgb24")
    bt709 = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p", dst_colorspace="itu709")
    bt709.colorspace = 1   # tagged BT.709 (phone videos): FFmpeg's converter, exactly
    assert np.array_equal(frame_to_rgb(bt709), bt709.to_ndarray(format="rgb24"))
    odd = av.VideoFrame.from_ndarray(rgb[:95, :127], format="rgb24").reformat(format="yuv420p")
    assert np.array_equal(frame_to_rgb(odd), odd.to_ndarray(format="rgb24"))
