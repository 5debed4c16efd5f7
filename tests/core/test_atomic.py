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


def test_folder_nothing_changes_on_failure(tmp_path):
    from hbiview.io.atomic import atomic_folder

    target = tmp_path / "set"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(target, force=True) as staging:
        (staging / "half.dcm").write_text("half")
        raise RuntimeError("writer crashed")
    # the old folder as it was, no staging folder left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
    assert [p.name for p in target.iterdir()] == ["old.txt"]


def test_folder_replaced_whole_with_force_only(tmp_path):
    from hbiview.io.atomic import atomic_folder

    target = tmp_path / "nested" / "set"  # the parent is created
    with atomic_folder(target) as staging:
        (staging / "a.txt").write_text("a")
    assert [p.name for p in target.iterdir()] == ["a.txt"]
    with pytest.raises(OutputError, match=r"not empty.*--force"), atomic_folder(target):
        pass
    with atomic_folder(target, force=True) as staging:
        (staging / "b.txt").write_text("b")
    assert [p.name for p in target.iterdir()] == ["b.txt"]  # the old contents are gone, not merged
    assert sorted(p.name for p in target.parent.iterdir()) == ["set"]


def test_folder_refuses_a_file(tmp_path):
    from hbiview.io.atomic import atomic_folder

    (tmp_path / "earlier.txt").write_text("x")
    with (
        pytest.raises(OutputError, match="not a folder"),
        atomic_folder(tmp_path / "earlier.txt", force=True),
    ):
        pass
