"""``hbiview render`` and ``hbiview view`` from the command line."""

from __future__ import annotations

import pytest
from imagecheck import load_png

from hbiview.cli import EXIT_BAD_INPUT, EXIT_OK, main


@pytest.fixture(scope="module")
def rendered(sample_ct_dir, tmp_path_factory):
    """One end-to-end run on the sample patient: segmentation, upper-hbi dose, a coronal PNG, an HTML page."""
    import importlib.util

    folder = tmp_path_factory.mktemp("cli")
    png, page = folder / "coronal.png", folder / "upper.html"
    html = ["--html", str(page)] if importlib.util.find_spec("trame_vtk") else []  # optional dependency
    code = main(
        ["render", str(sample_ct_dir), "--plan", "upper-hbi", "--view", "coronal", "--size", "500", "400",
         "--out", str(png), *html, "--quiet"]
    )  # fmt: skip
    return code, png, page if html else None


@pytest.mark.slow
def test_render_sample_patient_end_to_end(rendered):
    code, png, page = rendered
    assert code == EXIT_OK
    picture = load_png(png)
    assert picture.shape == (400, 500, 3)
    # the dose colourwash is there: many saturated (non-grey) pixels on the slice
    saturation = picture.max(axis=-1).astype(int) - picture.min(axis=-1)
    assert (saturation > 80).mean() > 0.05
    # the page holds the whole scene and stays mailable (<= 10 MB, the limit)
    if page is not None:
        assert 0.5e6 < page.stat().st_size <= 10 * 1024 * 1024


def test_existing_output_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "exists.png"
    out.write_bytes(b"keep me")
    code = main(["render", str(tmp_path / "no_ct_here"), "--plan", "upper-hbi", "--out", str(out)])
    assert code == EXIT_BAD_INPUT
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "nothing to write"),
        (["--out", "x.jpg"], "PNG"),
        (["--orbit", "x.avi"], ".gif or .mp4"),
        (["--out", "x.png", "--compare", "a", "b", "c", "d"], "1 to 3"),
    ],
)
def test_bad_options_give_one_clear_line(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    code = main(["render", "sample_ct", "--plan", "upper-hbi", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_BAD_INPUT
    assert len(err) == 1 and message in err[0]
    assert not list(tmp_path.iterdir())  # nothing written


def test_view_help_lists_its_keys(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["view", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for key in ("s   save a screenshot", "n   next plan", "b   previous plan", "q   close the window"):
        assert key in text


def test_view_without_display_says_what_to_do(sample_ct_dir, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["view", str(sample_ct_dir), "--plan", "upper-hbi"])
    assert code == EXIT_BAD_INPUT
    assert "--html" in capsys.readouterr().err
