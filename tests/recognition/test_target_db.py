"""Saving, loading and folder reading of image-target databases."""

import cv2
import numpy as np
import pytest

from arkit.core.camera import Intrinsics
from arkit.core.errors import InputFileError
from arkit.recognition.image_targets import ImageTargetDatabase
from arkit.recognition.synthetic_targets import look_at_target, random_texture, render_target
from arkit.recognition.target_db import parse_width_from_name, read_target_folder

K = Intrinsics(640, 480, 600.0, 600.0, 319.5, 239.5)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    texs = [random_texture(rng, 400, 300) for _ in range(3)]
    db = ImageTargetDatabase.build([(f"n{i}", t, 0.1 + 0.05 * i) for i, t in enumerate(texs)], target_size_px=400)
    path = db.save(tmp_path / "targets.npz")
    assert path.exists() and not list(tmp_path.glob(".*part*"))
    db2 = ImageTargetDatabase.load(path)
    assert db2.names == db.names and db2.feature_type == db.feature_type
    for a, b in zip(db.targets, db2.targets):
        assert a.width_m == b.width_m
        np.testing.assert_array_equal(a.gray, b.gray)
        np.testing.assert_array_equal(a.descriptors, b.descriptors)
    frame, _ = render_target(texs[1], 0.15, look_at_target(0.4, 20), K.K, random_texture(rng, 640, 480, 200))
    d1, d2 = db.detect(frame, K), db2.detect(frame, K)
    assert [d.name for d in d1] == [d.name for d in d2] == ["n1"]
    np.testing.assert_allclose(d1[0].corners_px, d2[0].corners_px, atol=1e-6)


def test_load_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        ImageTargetDatabase.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match="cannot read"):
        ImageTargetDatabase.load(bad)


def test_width_in_file_name():
    assert parse_width_from_name("poster_0.3m") == ("poster", 0.3)
    assert parse_width_from_name("logo_12cm") == ("logo", pytest.approx(0.12))
    assert parse_width_from_name("card-85mm") == ("card", pytest.approx(0.085))
    assert parse_width_from_name("poster") is None


def test_folder_with_yaml_and_names(tmp_path):
    rng = np.random.default_rng(4)
    cv2.imwrite(str(tmp_path / "a_20cm.png"), random_texture(rng, 320, 240))
    cv2.imwrite(str(tmp_path / "b.jpg"), random_texture(rng, 320, 240))
    (tmp_path / "targets.yaml").write_text("b.jpg: {width_m: 0.25, name: bee}\n")
    entries = read_target_folder(tmp_path)
    assert [(n, w) for n, _, w in entries] == [("a", pytest.approx(0.2)), ("bee", 0.25)]
    assert entries[0][1].shape == (240, 320, 3)


def test_folder_missing_width(tmp_path):
    cv2.imwrite(str(tmp_path / "nowidth.png"), random_texture(np.random.default_rng(5), 320, 240))
    with pytest.raises(InputFileError, match="nowidth"):
        read_target_folder(tmp_path)
