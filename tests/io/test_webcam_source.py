import pytest

from arkit.core.errors import SourceError
from arkit.io.webcam_source import WebcamSource


def test_missing_device_is_a_clear_error():
    with pytest.raises(SourceError, match="cannot open webcam 97"):
        WebcamSource(97)


def test_bad_index():
    with pytest.raises(SourceError, match="integer"):
        WebcamSource("front")
    with pytest.raises(SourceError, match=">= 0"):
        WebcamSource(-1)
