"""``hbiview serve`` with bad input: one line on stderr naming the problem, exit code 2, no server."""

from __future__ import annotations

import socket

import pytest

from hbiview.cli import EXIT_BAD_INPUT, main


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err  # one line, no traceback
    assert lines[0].startswith("hbiview: error: ")
    return lines[0]


def test_unknown_plan_is_named(capsys, sample_ct_dir):
    assert main(["serve", str(sample_ct_dir), "--plan", "upper-hbj", "--port", "0"]) == EXIT_BAD_INPUT
    line = _one_line(capsys)
    assert "'upper-hbj'" in line and "upper-hbi" in line  # names the typo and the presets to choose from


def test_a_port_in_use_is_named(capsys, sample_ct_dir):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        code = main(["serve", str(sample_ct_dir), "--plan", "upper-hbi", "--port", str(port)])
    assert code == EXIT_BAD_INPUT
    line = _one_line(capsys)
    assert f"port {port} on 127.0.0.1" in line and "--port" in line


def test_a_ct_that_cannot_be_read_is_named(capsys, tmp_path):
    folder = tmp_path / "not_a_ct"
    folder.mkdir()
    (folder / "notes.txt").write_text("no DICOM here\n")
    assert main(["serve", str(folder), "--plan", "upper-hbi", "--port", "0"]) == EXIT_BAD_INPUT
    assert str(folder) in _one_line(capsys)


def test_bad_port_number(capsys, sample_ct_dir):
    assert main(["serve", str(sample_ct_dir), "--plan", "upper-hbi", "--port", "70000"]) == EXIT_BAD_INPUT
    assert "--port 70000" in _one_line(capsys)


def test_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "hbiview serve sample_ct --plan upper-hbi" in out and "--host 0.0.0.0" in out and "token" in out
