import pytest

from hbiview.errors import OutputError
from hbiview.io.atomic import atomic_path


def test_nothing_left_behind_on_failure(tmp_path):
    target = tmp_path / "dose.dcm"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer crashed")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_needs_force(tmp_path):
    target = tmp_path / "out.nii.gz"
    target.write_text("old")
    with pytest.raises(OutputError, match="--force"), atomic_path(target):
        pass
    with atomic_path(target, force=True) as tmp:
        assert tmp.name.endswith(".nii.gz")  # writers choose the format from the extension
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_missing_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"), atomic_path(tmp_path / "no" / "x.csv"):
        pass
