import os

import pytest


@pytest.fixture(scope="session")
def mp_models(tmp_path_factory):
    """A model cache holding the models of the mediapipe==0.10.21 wheel (imported offline via pip).

    Uses the user's cache when the models are already there; otherwise imports the wheel
    (``$ARKIT_MEDIAPIPE_WHEEL`` or ``pip download``) into a temporary cache. Skips when neither works.
    """
    from arkit.recognition import models

    needed = ("face_detector", "face_detector_full_range", "selfie_segmenter", "selfie_segmenter_landscape")
    if all(models.is_available(n) for n in needed):
        yield models.cache_dir()
        return
    mp = pytest.MonkeyPatch()
    mp.setenv("ARKIT_MODELS_DIR", str(tmp_path_factory.mktemp("arkit_models")))
    try:
        try:
            models.import_from_wheel(os.environ.get("ARKIT_MEDIAPIPE_WHEEL"))
        except Exception as e:  # no network to PyPI, pip missing, ...
            pytest.skip(f"MediaPipe models unavailable: importing {models.LEGACY_WHEEL} failed: {e}")
        yield models.cache_dir()
    finally:
        mp.undo()
