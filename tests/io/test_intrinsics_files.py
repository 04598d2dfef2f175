import json

import numpy as np
import pytest
import yaml

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError, IntrinsicsError
from arkit.io.intrinsics_files import load_intrinsics, resolve_intrinsics, save_intrinsics

K0 = Intrinsics(640, 480, 500.5, 501.0, 319.0, 241.5, (0.1, -0.05, 0.001, 0.002, 0.01))


@pytest.mark.parametrize("name", ["k.yaml", "k.json"])
def test_arkit_format_round_trip(tmp_path, name):
    p = save_intrinsics(K0, tmp_path / name)
    assert load_intrinsics(p) == K0


def test_reads_generator_style_yaml(tmp_path):
    p = tmp_path / "intrinsics.yaml"
    p.write_text(yaml.safe_dump(Intrinsics(320, 240, 300, 300, 160, 120).to_dict()))
    assert load_intrinsics(p) == Intrinsics(320, 240, 300, 300, 160, 120)


def test_opencv_filestorage_round_trip(tmp_path):
    p = save_intrinsics(K0, tmp_path / "calib.yml", opencv=True)
    assert p.read_text().startswith("%YAML")
    assert load_intrinsics(p) == K0


def test_opencv_file_written_by_cv2_with_column_dist(tmp_path):
    import cv2

    p = tmp_path / "cam.yml"
    fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_WRITE)
    fs.write("image_width", 800)
    fs.write("image_height", 600)
    fs.write("camera_matrix", np.array([[700.0, 0, 399.5], [0, 710.0, 299.5], [0, 0, 1]]))
    fs.write("distortion_coefficients", np.array([[0.1], [0.01], [0.0], [0.0], [0.0]]))
    fs.release()
    K = load_intrinsics(p)
    assert (K.width, K.height, K.fx, K.fy, K.cx, K.cy) == (800, 600, 700, 710, 399.5, 299.5)
    assert K.dist == (0.1, 0.01, 0.0, 0.0, 0.0)


def test_plain_k_matrix_yaml_and_json(tmp_path):
    a = tmp_path / "k.yaml"
    a.write_text("K: [[520, 0, 320], [0, 521, 240], [0, 0, 1]]\nwidth: 640\nheight: 480\nD: [0.1, 0.0, 0.0, 0.0]\n")
    K = load_intrinsics(a)
    assert (K.fx, K.fy, K.cx, K.cy, K.dist) == (520, 521, 320, 240, (0.1, 0, 0, 0))
    b = tmp_path / "k.json"
    b.write_text(json.dumps({"camera_matrix": [520, 0, 320, 0, 521, 240, 0, 0, 1], "image_width": 640,
                             "image_height": 480}))
    assert load_intrinsics(b) == Intrinsics(640, 480, 520, 521, 320, 240)


def test_ros_camera_info_and_open3d_and_euroc(tmp_path):
    ros = tmp_path / "ros.yaml"
    ros.write_text(
        "image_width: 640\nimage_height: 480\ncamera_name: cam\n"
        "camera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 500, 240, 0, 0, 1]}\n"
        "distortion_model: plumb_bob\ndistortion_coefficients: {rows: 1, cols: 5, data: [0.1, 0, 0, 0, 0]}\n")
    assert load_intrinsics(ros) == Intrinsics(640, 480, 500, 500, 320, 240, (0.1, 0, 0, 0, 0))
    o3d = tmp_path / "o3d.json"  # Open3D stores the matrix column-major
    o3d.write_text(json.dumps({"width": 640, "height": 480,
                               "intrinsic_matrix": [525.0, 0, 0, 0, 526.0, 0, 319.5, 239.5, 1]}))
    assert load_intrinsics(o3d) == Intrinsics(640, 480, 525, 526, 319.5, 239.5)
    eu = tmp_path / "sensor.yaml"
    eu.write_text("camera_model: pinhole\nintrinsics: [458.654, 457.296, 367.215, 248.375]\n"
                  "distortion_model: radial-tangential\ndistortion_coefficients: [-0.28, 0.07, 0.0002, 1.8e-05]\n"
                  "resolution: [752, 480]\nrate_hz: 20\n")
    K = load_intrinsics(eu)
    assert (K.width, K.height, K.fx, K.cy, len(K.dist), K.model) == (752, 480, 458.654, 248.375, 4, "pinhole")
    eu.write_text(eu.read_text().replace("radial-tangential", "equidistant").replace("1.8e-05]", "1.8e-05]")
                  .replace("[-0.28, 0.07, 0.0002, 1.8e-05]", "[0.01, 0.02, 0.003, 0.004]"))
    assert load_intrinsics(eu).model == "fisheye"


def test_missing_size_asks_for_it_and_accepts_it(tmp_path):
    p = tmp_path / "k.yaml"
    p.write_text("K: [500, 0, 320, 0, 500, 240, 0, 0, 1]\n")
    with pytest.raises(IntrinsicsError, match="does not store the image size.*pass it") as e:
        load_intrinsics(p)
    assert str(p) in str(e.value)
    assert load_intrinsics(p, 640, 480).size == (640, 480)


def test_given_size_that_differs_from_file_is_an_error(tmp_path):
    p = save_intrinsics(K0, tmp_path / "k.yaml")
    with pytest.raises(IntrinsicsError, match="640x480.*1280x720"):
        load_intrinsics(p, 1280, 720)


@pytest.mark.parametrize("content, match", [
    ("fx: 500\nfy: 500\ncx: 320\nwidth: 640\nheight: 480\n", "no camera intrinsics"),
    ("fx: -500\nfy: 500\ncx: 320\ncy: 240\nwidth: 640\nheight: 480\n", "fx=-500.0 must be positive"),
    ("fx: 500\nfy: 0\ncx: 320\ncy: 240\nwidth: 640\nheight: 480\n", "fy=0.0 must be positive"),
    ("fx: 500\nfy: 500\ncx: 320\ncy: 240\nwidth: -640\nheight: 480\n", "'width' must be a positive integer"),
    ("fx: abc\nfy: 500\ncx: 320\ncy: 240\nwidth: 640\nheight: 480\n", "'fx' must contain numbers"),
    ("fx: 500\nfy: 500\ncx: 320\ncy: 240\nwidth: 640\nheight: 480\ndist: [1, 2, 3]\n", "distortion"),
    ("K: [1, 2, 3]\nwidth: 640\nheight: 480\n", "'K' must be a 3x3"),
    ("K: [500, 0, 320, 0, 500, 240, 1, 0, 1]\nwidth: 640\nheight: 480\n", "not a camera matrix"),
    ("model: weird\nfx: 1\nfy: 1\ncx: 1\ncy: 1\nwidth: 2\nheight: 2\n", "unsupported camera"),
    ("- 1\n- 2\n", "must hold a mapping"),
])
def test_malformed_files_name_file_and_field(tmp_path, content, match):
    p = tmp_path / "bad.yaml"
    p.write_text(content)
    with pytest.raises(IntrinsicsError, match=match) as e:
        load_intrinsics(p)
    assert str(p) in str(e.value)
    assert isinstance(e.value, InputFileError)  # IntrinsicsFileError is both


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        load_intrinsics(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("fx: [1, 2\n  cy: :\n")
    with pytest.raises(InputFileError, match="not valid YAML"):
        load_intrinsics(bad)
    badj = tmp_path / "bad.json"
    badj.write_text("{\"fx\": 1,")
    with pytest.raises(InputFileError, match="not valid JSON"):
        load_intrinsics(badj)
    badcv = tmp_path / "bad.yml"
    badcv.write_text("%YAML:1.0\ncamera_matrix: !!opencv-matrix\n   rows: 3\n   cols: [\n")
    with pytest.raises(InputFileError, match=str(badcv)):
        load_intrinsics(badcv)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(InputFileError):
        load_intrinsics(binary)


def test_resolve_intrinsics_checks_size(tmp_path):
    assert resolve_intrinsics(None, 640, 480) is None
    assert resolve_intrinsics(K0, 640, 480) is K0
    with pytest.raises(IntrinsicsError, match="640x480.*320x240"):
        resolve_intrinsics(K0, 320, 240, what="video x.mp4")
    p = save_intrinsics(K0, tmp_path / "k.yaml")
    assert resolve_intrinsics(str(p), 640, 480) == K0
    with pytest.raises(IntrinsicsError):
        resolve_intrinsics(42, 640, 480)


def test_real_opencv_calibration_files(shared_data):
    K = load_intrinsics(shared_data("aruco_opencv_contrib_photos", "calib", "tutorial_camera_charuco.yml"))
    assert K.size == (640, 480) and abs(K.fx - 452.51) < 0.01 and len(K.dist) == 5
    K = load_intrinsics(shared_data("opencv_samples_data", "calibration_chessboard", "left_intrinsics.yml"))
    assert K.size == (640, 480) and abs(K.cx - 342.283) < 0.001
    params = shared_data("aruco_opencv_contrib_photos", "calib", "tutorial_camera_params.yml")
    with pytest.raises(IntrinsicsError, match="pass it"):
        load_intrinsics(params)
    assert load_intrinsics(params, 640, 480).fx == pytest.approx(628.158)
    stereo = load_intrinsics(shared_data("opencv_samples_data", "calibration_chessboard", "intrinsics.yml"), 640, 480)
    assert stereo.fx == pytest.approx(534.803, abs=1e-3)  # M1 (the left camera)
    o3d = load_intrinsics(shared_data("open3d_testdata_2019", "camera_primesense.json"))
    assert o3d == Intrinsics(640, 480, 525, 525, 319.5, 239.5)
    with pytest.raises(IntrinsicsError, match="no camera intrinsics"):
        load_intrinsics(shared_data("aruco_opencv_contrib_photos", "calib", "detector_params.yml"))


def test_opencv_xml_round_trip_and_fisheye(tmp_path):
    fish = Intrinsics(640, 480, 300.0, 300.0, 320.0, 240.0, (0.01, -0.002, 0.0003, 0.0), "fisheye")
    p = save_intrinsics(fish, tmp_path / "calib.xml", opencv=True)
    assert p.read_text().lstrip().startswith("<?xml")
    assert load_intrinsics(p) == fish


def test_bare_matrix_text_files(tmp_path):
    a = tmp_path / "camera-intrinsics.txt"
    a.write_text("585 0 320\n0 585 240\n0 0 1\n")
    with pytest.raises(IntrinsicsError, match="pass it"):
        load_intrinsics(a)
    assert load_intrinsics(a, 640, 480) == Intrinsics(640, 480, 585, 585, 320, 240)
    b = tmp_path / "camera_matrix.csv"
    b.write_text("1450.5,0.0,960.1\n0.0,1450.5,720.2\n0.0,0.0,1.0\n")
    assert load_intrinsics(b, 1920, 1440).cy == pytest.approx(720.2)
    c = tmp_path / "bad.txt"
    c.write_text("585 0 320\n0 585 240\n")
    with pytest.raises(IntrinsicsError, match="must hold a mapping"):
        load_intrinsics(c)


def test_real_sevenscenes_intrinsics(shared_data):
    K = load_intrinsics(shared_data("sevenscenes_redkitchen_a", "camera-intrinsics.txt"), 640, 480)
    assert (K.fx, K.fy, K.cx, K.cy) == (585, 585, 320, 240)
