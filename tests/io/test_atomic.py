import os

import pytest

from arkit.core.errors import InputFileError
from arkit.io.atomic import atomic_write_bytes, atomic_write_path, atomic_write_text


def test_atomic_write_text_creates_file_without_leftovers(tmp_path):
    p = atomic_write_text(tmp_path / "a.txt", "hello")
    assert p.read_text() == "hello"
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(p).st_mode & 0o777 == 0o666 & ~umask  # normal permissions, not mkstemp's 0600


def test_failure_keeps_previous_file_and_removes_temp(tmp_path):
    final = tmp_path / "out.bin"
    atomic_write_bytes(final, b"old")
    with pytest.raises(RuntimeError):
        with atomic_write_path(final) as tmp:
            assert tmp.parent == final.parent and tmp.suffix == ".bin" and tmp != final
            tmp.write_bytes(b"half-written")
            raise RuntimeError("crash while writing")
    assert final.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["out.bin"]


def test_success_replaces_file(tmp_path):
    final = tmp_path / "out.txt"
    final.write_text("old")
    with atomic_write_path(final) as tmp:
        tmp.write_text("new")
        assert final.read_text() == "old"  # not visible before the block ends
    assert final.read_text() == "new"


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "a.txt", "x")
