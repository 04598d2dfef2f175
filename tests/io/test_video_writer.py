import os

import av
import numpy as np
import pytest

from arkit.core.errors import FrameError, InputFileError
from arkit.io.video_writer import VideoWriter


def decode_all(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        codec = s.codec_context.name
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
        rate = float(s.average_rate)
    return codec, frames, rate


def test_writes_h264_mp4_that_decodes_back(tmp_path, pattern):
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=15, crf=12) as w:
        for i in range(12):
            w.write(pattern(i))
        assert not path.exists()  # only appears on close
    assert w.frames_written == 12
    codec, frames, rate = decode_all(path)
    assert codec == "h264"
    assert len(frames) == 12
    assert rate == pytest.approx(15)
    for i, f in enumerate(frames):
        assert f.shape == (96, 128, 3)
        err = np.abs(f.astype(int) - pattern(i).astype(int)).mean()
        assert err < 6, (i, err)  # lossy but close; wrong order or colours would fail
    assert frames[0][-5, 5, 0] > 150 and frames[0][-5, 5, 2] < 100  # red stays red (RGB order)
    assert sorted(os.listdir(tmp_path)) == ["out.mp4"]


def test_odd_size_is_padded_or_rejected(tmp_path, pattern):
    img = np.zeros((51, 67, 3), np.uint8)
    img[:, :, 1] = 180
    with VideoWriter(tmp_path / "odd.mp4", fps=10) as w:
        w.write(img)
        w.write(img)
    assert w.size == (68, 52)
    _, frames, _ = decode_all(tmp_path / "odd.mp4")
    assert len(frames) == 2 and frames[0].shape == (52, 68, 3)
    assert abs(int(frames[0][-1, -1, 1]) - 180) < 10  # padding replicates the edge
    w2 = VideoWriter(tmp_path / "odd2.mp4", fps=10, pad_odd=False)
    with pytest.raises(FrameError, match="even frame size"):
        w2.write(img)


def test_crash_leaves_no_finished_looking_file(tmp_path, pattern):
    path = tmp_path / "crash.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, fps=10) as w:
            w.write(pattern(0))
            raise RuntimeError("pipeline crashed")
    assert os.listdir(tmp_path) == []


def test_bad_frames_and_arguments(tmp_path, pattern):
    with pytest.raises(InputFileError, match="does not exist"):
        VideoWriter(tmp_path / "no" / "x.mp4", fps=10)
    with pytest.raises(FrameError, match="fps"):
        VideoWriter(tmp_path / "x.mp4", fps=0)
    with pytest.raises(FrameError, match="codec"):
        VideoWriter(tmp_path / "x.mp4", fps=10, codec="nope")
    w = VideoWriter(tmp_path / "x.mp4", fps=10)
    with pytest.raises(FrameError, match="uint8"):
        w.write(np.zeros((10, 10, 3), np.float32))
    w.write(pattern(0))
    with pytest.raises(FrameError, match="same size"):
        w.write(np.zeros((40, 40, 3), np.uint8))
    w.write(pattern(1)[:, :, 0])  # grayscale is accepted
    assert w.close() == tmp_path / "x.mp4"
    with pytest.raises(FrameError, match="closed"):
        w.write(pattern(2))
    empty = VideoWriter(tmp_path / "empty.mp4", fps=10)
    assert empty.close() is None and not (tmp_path / "empty.mp4").exists()


def test_mjpeg_avi(tmp_path, pattern):
    path = tmp_path / "clip.avi"
    with VideoWriter(path, fps=10, codec="mjpeg") as w:
        for i in range(5):
            w.write(pattern(i))
    codec, frames, _ = decode_all(path)
    assert codec == "mjpeg" and len(frames) == 5


def test_fractional_fps_and_mkv(tmp_path, pattern):
    path = tmp_path / "ntsc.mkv"
    with VideoWriter(path, fps=30000 / 1001) as w:
        for i in range(6):
            w.write(pattern(i))
    codec, frames, rate = decode_all(path)
    assert codec == "h264" and len(frames) == 6
    assert rate == pytest.approx(29.97, abs=0.01)


def test_background_writer_matches_the_plain_writer(tmp_path, pattern):
    from arkit.io.video_writer import BackgroundVideoWriter

    opts = dict(crf=18, preset="ultrafast", options={"threads": "1"})
    with VideoWriter(tmp_path / "a.mp4", fps=10, **opts) as w:
        for i in range(9):
            w.write(pattern(i))
    buf = pattern(0).copy()
    with BackgroundVideoWriter(tmp_path / "b.mp4", fps=10, queue_size=2, **opts) as bw:
        for i in range(9):
            buf[:] = pattern(i)          # a reused, writable buffer: the writer must copy it
            bw.write(buf)
        assert not (tmp_path / "b.mp4").exists()
    assert bw.frames_written == 9
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_background_writer_bad_frame_raises_in_the_caller(tmp_path, pattern):
    from arkit.io.video_writer import BackgroundVideoWriter

    bw = BackgroundVideoWriter(tmp_path / "c.mp4", fps=10)
    bw.write(pattern(0))
    with pytest.raises(FrameError, match="same size"):
        bw.write(pattern(1, w=64, h=48))
    assert bw.close() is None
    assert os.listdir(tmp_path) == []


def test_process_writer_matches_the_plain_writer(tmp_path, pattern):
    from arkit.io.video_writer_process import ProcessVideoWriter

    opts = dict(crf=18, preset="ultrafast", options={"threads": "1"})
    with VideoWriter(tmp_path / "a.mp4", fps=10, **opts) as w:
        for i in range(9):
            w.write(pattern(i))
    buf = pattern(0).copy()
    with ProcessVideoWriter(tmp_path / "b.mp4", fps=10, queue_size=2, **opts) as pw:
        for i in range(9):
            buf[:] = pattern(i)          # a reused, writable buffer: the writer must copy it
            pw.write(buf)
        assert not (tmp_path / "b.mp4").exists()
    assert pw.frames_written == 9 and pw.encode_cpu_s > 0
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    with ProcessVideoWriter(tmp_path / "none.mp4", fps=10) as empty:
        pass
    assert empty.close() is None and not (tmp_path / "none.mp4").exists()


def test_process_writer_bad_frame_and_dead_encoder_leave_no_file(tmp_path, pattern):
    from arkit.io.video_writer_process import ProcessVideoWriter

    pw = ProcessVideoWriter(tmp_path / "c.mp4", fps=10)
    pw.write(pattern(0))
    with pytest.raises(FrameError, match="same size"):
        pw.write(pattern(1, w=64, h=48))
    assert pw.close() is None
    assert os.listdir(tmp_path) == []
    with pytest.raises(InputFileError, match="does not exist"):
        ProcessVideoWriter(tmp_path / "no" / "x.mp4", fps=10)

    pw = ProcessVideoWriter(tmp_path / "d.mp4", fps=10, queue_size=1, in_flight=1)
    for i in range(3):
        pw.write(pattern(i))
    while pw._worker is None or pw._tmp is None:   # the encoder has started the file
        pw.write(pattern(0))
    pw._worker._proc.kill()                        # the encoder dies mid-video
    with pytest.raises(InputFileError, match=r"d\.mp4 failed in the encoding process .*exited unexpectedly"):
        for i in range(50):
            pw.write(pattern(i))
        pw.close()
    assert os.listdir(tmp_path) == [], "no video and no temporary file left behind"
