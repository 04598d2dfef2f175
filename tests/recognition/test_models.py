"""Model registry, cache paths, offline errors and the legacy-wheel import."""

import zipfile

import pytest

from arkit.core.errors import ArkitError
from arkit.recognition import models


def test_registry_has_required_models():
    names = {s.name for s in models.list_models()}
    assert {"face_detector", "face_landmarker", "hand_landmarker", "pose_landmarker", "pose_landmarker_full",
            "selfie_segmenter", "object_detector"} <= names
    assert models.spec("face_landmarker").url.endswith("/face_landmarker/face_landmarker/float16/1/face_landmarker.task")
    assert models.spec("object_detector").url.endswith("/efficientdet_lite0/float16/1/efficientdet_lite0.tflite")
    assert models.spec("pose_landmarker_full").from_wheel and not models.spec("face_landmarker").from_wheel
    assert models.spec("face_detector").filename == "blaze_face_short_range.tflite"
    for s in models.list_models():
        assert s.url is None or s.url.startswith("https://storage.googleapis.com/mediapipe-models/")
    with pytest.raises(ArkitError, match="known models"):
        models.spec("nope")


def test_missing_model_error_is_actionable(tmp_path, monkeypatch):
    monkeypatch.setenv("ARKIT_MODELS_DIR", str(tmp_path))
    assert models.cache_dir() == tmp_path
    with pytest.raises(models.MissingModelError) as e:
        models.model_path("hand_landmarker")
    msg = str(e.value)
    s = models.spec("hand_landmarker")
    assert "hand_landmarker" in msg and s.url in msg and str(tmp_path / s.filename) in msg
    assert "arkit models fetch hand_landmarker" in msg


def test_import_from_fake_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("ARKIT_MODELS_DIR", str(tmp_path / "cache"))
    wheel = tmp_path / "mediapipe-0.10.21-fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(models.spec("face_detector").wheel_member, b"tflite-bytes")
    done = models.import_from_wheel(wheel, names=["face_detector"])
    assert done["face_detector"].read_bytes() == b"tflite-bytes"
    assert models.model_path("face_detector") == done["face_detector"]
    src = models.sources()["face_detector"]
    assert src["origin"].endswith(models.spec("face_detector").wheel_member) and len(src["sha256"]) == 64
    with pytest.raises(ArkitError):
        models.import_from_wheel(wheel, names=["face_landmarker"])  # not in the wheel
    # a bundle whose models the (fake) wheel lacks is skipped with a warning, not half-written
    assert models.import_from_wheel(wheel, names=["hand_landmarker"]) == {}
    assert not models.is_available("hand_landmarker")
    bad = tmp_path / "mediapipe-0.10.21-bad.whl"
    with zipfile.ZipFile(bad, "w") as zf:  # the pose members are there but are not TFLite models
        zf.writestr("mediapipe/modules/pose_detection/pose_detection.tflite", b"garbage")
        zf.writestr("mediapipe/modules/pose_landmark/pose_landmark_full.tflite", b"garbage")
    assert models.import_from_wheel(bad, names=["pose_landmarker_full"]) == {}


def test_cli_models_list_and_path(tmp_path, monkeypatch, capsys):
    from arkit.cli import main

    monkeypatch.setenv("ARKIT_MODELS_DIR", str(tmp_path))
    assert main(["models", "list"]) == 0
    assert "face_detector" in capsys.readouterr().out
    assert main(["models", "path", "face_detector"]) == 2
    assert "import-wheel" in capsys.readouterr().err


def test_real_wheel_models_match_registry(mp_models):
    from arkit.recognition.models import sha256_file

    for name in ("face_detector", "selfie_segmenter"):
        s = models.spec(name)
        assert sha256_file(models.model_path(name)) == s.wheel_sha256


def test_cli_import_wheel_from_file(tmp_path, monkeypatch, capsys):
    from arkit.cli import main

    monkeypatch.setenv("ARKIT_MODELS_DIR", str(tmp_path / "cache"))
    wheel = tmp_path / "mediapipe-0.10.21-fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(models.spec("selfie_segmenter").wheel_member, b"seg")
    assert main(["models", "import-wheel", str(wheel)]) == 0
    assert "selfie_segmenter" in capsys.readouterr().out
    assert main(["models", "path", "selfie_segmenter"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cache" / "selfie_segmenter.tflite")
    assert main(["models", "import-wheel", str(tmp_path / "missing.whl")]) == 2
