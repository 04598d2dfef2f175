import os

import pytest

os.environ.setdefault("ARKIT_LOG_LEVEL", "WARNING")


@pytest.fixture
def shared_data():
    """Return a function that resolves a path inside ../shared/data, skipping when absent."""
    from arkit.io.shared_data import shared_data_path

    def get(*parts):
        p = shared_data_path(*parts)
        if p is None:
            pytest.skip(f"real data {'/'.join(parts)} not present (set ARKIT_SHARED_DATA)")
        return p

    return get


@pytest.fixture(scope="session")
def marker_room_small(tmp_path_factory):
    """A short 320x240 marker_room sequence (TUM layout with depth and ground truth), made once."""
    from arkit.synthetic.generator import generate_sequence

    out = tmp_path_factory.mktemp("seq") / "marker_room"
    return generate_sequence("marker_room", out, num_frames=24, width=320, height=240, seed=0, texture_px_per_m=128)
