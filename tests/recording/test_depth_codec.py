"""Depth storage of recordings: zstd16 (default) and png16 (version 1 recordings) read back exactly."""

import json

import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.frame import Frame
from arkit.recording import RecordingError, open_recording, read_info, record
from arkit.recording import depth_codec
from arkit.recording.format import DEPTH_DIR, HEADER_FILE
from arkit.session import Session

W, H = 64, 48


def _depth_mm(seed):
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 65536, size=(H, W), dtype=np.uint16)
    d[rng.random((H, W)) < 0.2] = 0
    return d


@pytest.mark.parametrize("encoding", depth_codec.ENCODINGS)
def test_codec_round_trips_every_uint16(tmp_path, encoding):
    d = _depth_mm(0)
    p = tmp_path / depth_codec.depth_file(7, encoding)
    depth_codec.write_depth_mm(p, d, encoding)
    back = depth_codec.read_depth_mm(p, encoding, W, H)
    assert back.dtype == np.uint16 and back.shape == (H, W) and np.array_equal(back, d)
    with pytest.raises(RecordingError, match=f"not a {W + 1}x{H} uint16"):
        depth_codec.read_depth_mm(p, encoding, W + 1, H)
    with pytest.raises(RecordingError, match="missing"):
        depth_codec.read_depth_mm(tmp_path / depth_codec.depth_file(8, encoding), encoding, W, H)


def test_corrupt_zstd_depth_raises(tmp_path):
    p = tmp_path / depth_codec.depth_file(0, depth_codec.ZSTD16)
    depth_codec.write_depth_mm(p, _depth_mm(1), depth_codec.ZSTD16)
    p.write_bytes(p.read_bytes()[: 40])
    with pytest.raises(RecordingError, match="corrupt"):
        depth_codec.read_depth_mm(p, depth_codec.ZSTD16, W, H)


def _frames(n):
    K = Intrinsics(width=W, height=H, fx=60.0, fy=60.0, cx=W / 2, cy=H / 2)
    rng = np.random.default_rng(3)
    for i in range(n):
        depth = _depth_mm(10 + i).astype(np.float32) / np.float32(1000)
        yield Frame(i, i / 30, rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8), K, depth_m=depth)


def _record(path):
    with Session(render=False) as s:
        record(s, _frames(3), path, lossless=True)
    return path


def test_recording_stores_zstd_depth_and_reads_it_back_exactly(tmp_path):
    rec = _record(tmp_path / "rec")
    info = read_info(rec)
    assert info.depth_encoding == depth_codec.default_encoding() == depth_codec.ZSTD16
    assert sorted(p.name for p in (rec / DEPTH_DIR).iterdir()) == [depth_codec.depth_file(i, "zstd16") for i in range(3)]
    source, _ = open_recording(rec)
    with source:
        for a, b in zip(_frames(3), source):
            assert b.depth_m.dtype == np.float32 and np.array_equal(a.depth_m, b.depth_m)


def test_version_1_recording_with_png_depth_is_still_read(tmp_path):
    rec = _record(tmp_path / "rec")
    # rewrite it as arkit wrote recordings before depth_encoding existed
    for i in range(3):
        mm = depth_codec.read_depth_mm(rec / DEPTH_DIR / depth_codec.depth_file(i, "zstd16"), "zstd16", W, H)
        depth_codec.write_depth_mm(rec / DEPTH_DIR / f"{i:06d}.png", mm, depth_codec.PNG16)
        (rec / DEPTH_DIR / depth_codec.depth_file(i, "zstd16")).unlink()
    header = json.loads((rec / HEADER_FILE).read_text())
    del header["depth_encoding"]
    header["version"] = 1
    (rec / HEADER_FILE).write_text(json.dumps(header))
    assert read_info(rec).depth_encoding == depth_codec.PNG16
    source, _ = open_recording(rec)
    with source:
        for a, b in zip(_frames(3), source):
            assert np.array_equal(a.depth_m, b.depth_m)


def test_unknown_depth_encoding_raises(tmp_path):
    rec = _record(tmp_path / "rec")
    header = json.loads((rec / HEADER_FILE).read_text())
    header["depth_encoding"] = "jxl16"
    (rec / HEADER_FILE).write_text(json.dumps(header))
    with pytest.raises(RecordingError, match="depth encoding 'jxl16' is unknown"):
        read_info(rec)


def test_zstandard_and_standard_library_codecs_read_each_other(tmp_path, monkeypatch):
    """Recordings written through ``zstandard`` read back through the standard library's
    ``compression.zstd`` / ``backports.zstd`` (the fallback) and the other way round."""
    fast, stdlib = depth_codec.zstd_codec(), depth_codec.stdlib_zstd_codec()
    if stdlib is None:
        pytest.skip("neither compression.zstd nor backports.zstd is installed")
    assert fast.fast and not stdlib.fast   # zstandard is a dependency
    d = _depth_mm(5)
    for writer, reader in ((fast, stdlib), (stdlib, fast)):
        p = tmp_path / depth_codec.depth_file(int(writer.fast), depth_codec.ZSTD16)
        monkeypatch.setattr(depth_codec, "zstd_codec", lambda: writer)
        depth_codec.write_depth_mm(p, d, depth_codec.ZSTD16)
        monkeypatch.setattr(depth_codec, "zstd_codec", lambda: reader)
        assert np.array_equal(depth_codec.read_depth_mm(p, depth_codec.ZSTD16, W, H), d)
        with pytest.raises(RecordingError, match=f"not a {W}x{H + 1} uint16"):
            depth_codec.read_depth_mm(p, depth_codec.ZSTD16, W, H + 1)
        p.write_bytes(p.read_bytes()[:40])
        with pytest.raises(RecordingError, match="corrupt"):
            depth_codec.read_depth_mm(p, depth_codec.ZSTD16, W, H)
