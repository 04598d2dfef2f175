"""Record3D .r3d exports: a tiny capture zipped from the format's public description and read back."""

import json
import sys
import zipfile

import cv2
import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, MissingDependencyError, SourceError
from arkit.core.pose import CV_FROM_GL, invert, matrix_to_quat_wxyz, rotation_angle_deg, rotvec_to_matrix
from arkit.io.readers.record3d import Record3DSource, record3d_pose_to_T_world_camera
from arkit.io.sources import open_source

K = Intrinsics(64, 48, 55.0, 57.0, 31.0, 22.0)
DW, DH = 32, 24


def true_pose(i):
    T = np.eye(4)
    T[:3, :3] = rotvec_to_matrix([0.3 * i, 0.1, -0.2 * i])
    T[:3, 3] = [0.1 * i, -0.5, 0.25 * i]
    return T


def r3d_pose(T_world_camera_cv):
    """[qx, qy, qz, qw, tx, ty, tz] of the same camera with ARKit (OpenGL) axes."""
    T_gl = T_world_camera_cv @ CV_FROM_GL
    w, x, y, z = matrix_to_quat_wxyz(T_gl[:3, :3])
    return [x, y, z, w, *T_gl[:3, 3]]


def compress(data: bytes, lzfse: bool) -> bytes:
    if not lzfse:
        return data
    import liblzfse

    return liblzfse.compress(data)


def write_r3d(path, images, depths, poses, K_color, *, lzfse=True, confs=None, drop=(), dsize=None):
    """Write a .r3d zip: ``images`` RGB uint8, ``depths`` float32 metres at (dh, dw), ``poses`` OpenCV c2w."""
    dh, dw = depths[0].shape if dsize is None else dsize[::-1]
    K9 = K_color.K.T.ravel().tolist()  # column-major
    meta = {"w": K_color.width, "h": K_color.height, "K": K9, "dw": dw, "dh": dh, "fps": 30,
            "frameTimestamps": [12.5 + i / 30 for i in range(len(images))],
            "poses": [r3d_pose(T) for T in poses], "initPose": [0, 0, 0, 1, 0, 0, 0], "cameraType": 1}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata", json.dumps(meta))
        for i, img in enumerate(images):
            ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100])
            z.writestr(f"rgbd/{i}.jpg", jpg.tobytes())
            if i not in drop:
                z.writestr(f"rgbd/{i}.depth", compress(np.asarray(depths[i], np.float32).tobytes(), lzfse))
            if confs is not None:
                z.writestr(f"rgbd/{i}.conf", compress(np.asarray(confs[i], np.uint8).tobytes(), lzfse))
    return path


def zipfile_bytes(members: dict) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def have_lzfse() -> bool:
    try:
        import liblzfse  # noqa: F401
    except ImportError:
        return False
    return True


def make_capture(path, pattern, n=3, **kw):
    depths, confs = [], []
    for i in range(n):
        d = np.full((DH, DW), 1.2 + 0.1 * i, np.float32)
        d[0, 0] = np.nan  # invalid LiDAR sample
        c = np.full((DH, DW), 2, np.uint8)
        c[:, -2:] = 0
        depths.append(d)
        confs.append(c)
    images = [pattern(i, 64, 48) for i in range(n)]
    kw.setdefault("lzfse", have_lzfse())
    return write_r3d(path, images, depths, [true_pose(i) for i in range(n)], K, confs=confs, **kw)


def test_pose_conversion_from_arkit_axes():
    T = true_pose(2)
    got = record3d_pose_to_T_world_camera(r3d_pose(T))
    assert np.allclose(got, T, atol=1e-9)
    # ARKit cameras look down -z: a point 2 m in front is at OpenCV z = +2
    T_gl = T @ CV_FROM_GL
    assert (invert(got) @ T_gl @ np.array([0.0, 0.0, -2.0, 1.0]))[2] == pytest.approx(2.0)


@pytest.mark.parametrize("lzfse", [True, False])
def test_record3d_reader(tmp_path, pattern, lzfse):
    if lzfse and not have_lzfse():
        pytest.skip("pyliblzfse is not installed")
    path = make_capture(tmp_path / "scan.r3d", pattern, lzfse=lzfse)
    src = open_source(path)
    assert isinstance(src, Record3DSource)
    assert src.intrinsics == K and src.num_frames == 3 and src.fps == 30  # column-major K read right
    frames = list(src)
    assert len(frames) == 3
    for i, f in enumerate(frames):
        assert f.timestamp_s == pytest.approx(12.5 + i / 30)
        assert np.allclose(f.T_world_camera_recorded[:3, 3], true_pose(i)[:3, 3], atol=1e-6)
        assert rotation_angle_deg(f.T_world_camera_recorded, true_pose(i)) < 1e-4
        assert np.abs(f.image_rgb.astype(int) - pattern(i, 64, 48).astype(int)).mean() < 3
        assert f.depth_m.shape == (48, 64)
        assert f.depth_m[20, 20] == pytest.approx(1.2 + 0.1 * i)
        assert np.all(f.depth_m[:2, :2] == 0)  # NaN -> invalid, upsampled 2x
        assert np.all(f.depth_m[:, -4:] == 0)  # confidence 0 removed
        assert f.meta["confidence"].shape == (48, 64)
    src.close()
    assert len(list(src)) == 3  # a second pass reopens the archive
    src.close()


def test_record3d_unzipped_folder(tmp_path, pattern):
    path = make_capture(tmp_path / "scan.r3d", pattern, lzfse=False)
    folder = tmp_path / "scan"
    with zipfile.ZipFile(path) as z:
        z.extractall(folder)
    src = open_source(folder)
    assert isinstance(src, Record3DSource)
    assert len(list(src)) == 3


def test_record3d_bad_inputs(tmp_path, pattern, monkeypatch):
    if have_lzfse():
        path = make_capture(tmp_path / "c.r3d", pattern, lzfse=True)
        monkeypatch.setitem(sys.modules, "liblzfse", None)  # as if pyliblzfse were not installed
        with pytest.raises(MissingDependencyError, match="pyliblzfse"):
            list(Record3DSource(path))
        monkeypatch.undo()
    raw = make_capture(tmp_path / "t.r3d", pattern, lzfse=False).read_bytes()
    (tmp_path / "t.r3d").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(SourceError, match="t.r3d.*truncated"):
        open_source(tmp_path / "t.r3d")
    (tmp_path / "e.r3d").write_bytes(b"")
    with pytest.raises(SourceError, match="e.r3d is not a readable"):
        open_source(tmp_path / "e.r3d")
    (tmp_path / "n.r3d").write_bytes(zipfile_bytes({"rgbd/0.jpg": b"x"}))
    with pytest.raises(InputFileError, match="no 'metadata'"):
        Record3DSource(tmp_path / "n.r3d")
    (tmp_path / "j.r3d").write_bytes(zipfile_bytes({"metadata": b"{\"w\": 64, \"h\": 48}"}))
    with pytest.raises(InputFileError, match="lacks the field 'K'"):
        Record3DSource(tmp_path / "j.r3d")
    path = make_capture(tmp_path / "d.r3d", pattern, lzfse=False, drop=(1,))
    with pytest.warns(UserWarning, match=r"rgbd/1\.depth is missing"):
        assert len(list(Record3DSource(path))) == 2
    mm = write_r3d(tmp_path / "mm.r3d", [pattern(0, 64, 48)], [np.full((DH, DW), 1500.0, np.float32)],
                   [true_pose(0)], K, lzfse=False)  # millimetres instead of metres
    with pytest.warns(UserWarning, match="implausible"):
        assert len(list(Record3DSource(mm))) == 1
    path = make_capture(tmp_path / "s.r3d", pattern, lzfse=False, dsize=(16, 12))  # metadata lies about dw/dh
    with pytest.warns(UserWarning, match="dw/dh"):
        assert list(Record3DSource(path)) == []
    assert len(list(Record3DSource(path, load_depth=False))) == 3
