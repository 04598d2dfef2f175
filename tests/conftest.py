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
