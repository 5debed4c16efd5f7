"""The lesson registry, the scripts' own command line, and ``hbiview lessons``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import hbiview.lessons as lessons
from hbiview.cli import main
from hbiview.errors import InputError, MissingInputError

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def test_registry_matches_the_scripts():
    folder = lessons.find_examples_dir()
    assert folder is not None and folder.name == "examples"
    assert [lesson.number for lesson in lessons.LESSONS] == [1, 2, 3, 4, 5, 6, 7]
    for lesson in lessons.LESSONS:
        script = folder / lesson.script
        assert script.is_file(), script
        text = script.read_text(encoding="utf-8")
        # each script runs standalone and from hbiview lessons: a main(out_dir, quick, case) and the CLI
        assert "def main(out_dir" in text and f"lesson_cli(main, {lesson.number})" in text
        assert lesson.question.endswith("?")
    assert (folder / "README.md").is_file()


def test_get_lesson_by_number_or_name():
    assert lessons.get_lesson(2).name == "lung_correction"
    assert lessons.get_lesson("02").number == 2
    assert lessons.get_lesson("fractionation").number == 4
    assert lessons.get_lesson("05_beam_energy.py").number == 5
    with pytest.raises(InputError, match="unknown lesson"):
        lessons.get_lesson(8)


def test_missing_scripts_are_explained(monkeypatch, capsys):
    monkeypatch.setattr(lessons, "find_examples_dir", lambda: None)
    with pytest.raises(MissingInputError, match="neither installed with the package"):
        lessons.load_lesson(1)
    assert main(["lessons", "run", "1", "--out", "unused"]) == 2
    assert "neither installed with the package" in capsys.readouterr().err
    assert main(["lessons"]) == 0
    assert "are not here" in capsys.readouterr().out


def test_examples_env_typo_is_an_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(lessons.EXAMPLES_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path)  # an earlier run's lesson_output/01 is not in the way
    assert main(["lessons", "run", "1"]) == 2
    assert "HBIVIEW_EXAMPLES" in capsys.readouterr().err


def test_list_and_json(capsys):
    assert main(["lessons"]) == 0
    out = capsys.readouterr().out
    for lesson in lessons.LESSONS:
        assert lesson.script in out
    assert main(["lessons", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["command"] == "lessons" and document["schema_version"] == 1
    rows = document["lessons"]
    assert [r["name"] for r in rows] == [lesson.name for lesson in lessons.LESSONS]
    assert all(r["script"].endswith(r["name"] + ".py") for r in rows)


def test_run_refuses_to_overwrite_without_force(tmp_path, capsys):
    (tmp_path / "summary.md").write_text("an earlier run\n")
    assert main(["lessons", "run", "3", "--out", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "summary.md").read_text() == "an earlier run\n"
    assert main(["lessons", "run", "99"]) == 2


def test_cli_runs_a_lesson(tmp_path, capsys):
    # lesson 4 is the fastest (a few seconds): the command writes its files and prints the take-away
    assert main(["lessons", "run", "4", "--out", str(tmp_path), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "Take-away." in out and "fractionation.png" in out
    assert (tmp_path / "fractionation.png").is_file() and (tmp_path / "summary.md").is_file()
    capsys.readouterr()
    # -q after "run" as well as before it; quiet prints nothing (warnings included)
    assert main(["lessons", "run", "fractionation", "--out", str(tmp_path), "--quick", "--force", "-q"]) == 0
    assert capsys.readouterr() == ("", "")


def test_script_help_runs_standalone():
    # python examples/NN_name.py --help: the script's own command line, without the hbiview CLI
    script = lessons.find_examples_dir() / lessons.get_lesson(6).script
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "--out" in done.stdout and "Field border placement" in done.stdout


# the coarse 14 mm test CT warns that its landmarks are uncertain (as it should); not what this test is about
@pytest.mark.filterwarnings("ignore::hbiview.errors.HbiviewWarning")
def test_lessons_on_organ_labels_refuse_another_patient(tmp_path):
    # lesson 1 takes organs (heart, liver...) from the sample patient's ground-truth labels: on any other CT
    # it must say so instead of outlining the wrong voxels
    from hbiview.pipeline import load_case
    from hbiview.sample import make_phantom

    other = load_case(make_phantom(spacing_mm=(20.0, 14.0, 14.0)).ct)
    with pytest.raises(InputError, match="bundled sample patient"):
        lessons.run_lesson(1, tmp_path / "1", case=other)
    # lesson 4 takes the cord from the segmented spinal canal: on 14 mm pixels (a vertebral foramen is one
    # or two pixels) there is none, and it says so
    assert not other.structures["SpinalCanal"].mask.any()
    with pytest.raises(InputError, match="spinal canal"):
        lessons.run_lesson(4, tmp_path / "4", case=other)
