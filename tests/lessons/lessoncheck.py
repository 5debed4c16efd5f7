"""Checks shared by the lesson tests."""

from __future__ import annotations

from pathlib import Path


def check_outputs(out: Path, numbers: dict) -> None:
    """Every file the lesson names exists; pictures are real PNGs; the summary has a take-away and sources."""
    assert numbers["files"], "a lesson must write files"
    for name in numbers["files"]:
        path = out / name
        assert path.is_file() and path.stat().st_size > 0, name
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "**Take-away.**" in summary
    assert "Source" in summary  # every lesson states the sources of the numbers it quotes
