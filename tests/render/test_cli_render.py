"""``hbiview render`` and ``hbiview view`` from the command line."""

from __future__ import annotations

import re

import pytest
from imagecheck import load_png

from hbiview.cli import EXIT_BAD_INPUT, EXIT_OK, main

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


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


# ------------------------------------------------------------- hbiview plans: --plan P [P ...] and options
@pytest.fixture(scope="module")
def coarse_ct(tmp_path_factory):
    """The sample patient at 10 x 4 x 4 mm as a CT series, with its ground truth (about 1 s).

    4 mm pixels, not coarser: from 4.5 mm on, the landmark search misplaces the iliac crest and vertebrae.
    """
    from hbiview.io.dicom import write_ct
    from hbiview.sample import make_phantom

    phantom = make_phantom(spacing_mm=(10, 4, 4))
    folder = tmp_path_factory.mktemp("coarse") / "ct"
    write_ct(phantom.ct, folder)
    return folder, phantom


def _spy(monkeypatch, module, name):
    """Wrap ``module.name`` so that the test sees what the command passed to it."""
    calls = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def _mean_in(dose, structure):
    from hbiview.dosevolume import dvh

    return dvh(dose, structure).mean_gy


def test_render_several_plans_side_by_side_with_plan_options(coarse_ct, tmp_path, monkeypatch, capsys):
    from hbiview.render import slices

    calls = _spy(monkeypatch, slices, "render_compare_slices")
    folder, _ = coarse_ct
    png = tmp_path / "compare.png"
    # --compare is an alias: the same as giving both plans to --plan
    argv = (
        f"render {folder} --plan upper-hbi --compare lower-hbi --view coronal --grid-mm 10 --set energy=6MV"
    )
    code = main([*argv.split(), "--size", "600", "400", "--out", str(png), "-q"])
    assert code == EXIT_OK, capsys.readouterr().err
    assert load_png(png).shape == (400, 600, 3)
    ((args, kwargs),) = calls
    (upper, upper_dose), (lower, lower_dose) = args[1]
    assert [upper.name, lower.name] == ["upper-hbi", "lower-hbi"]
    assert {b.energy for b in upper.beams + lower.beams} == {"6MV"}  # --set reached every preset
    assert upper_dose.geometry.spacing_mm == pytest.approx((10, 10, 10))  # --grid-mm
    lungs = next(s for s in kwargs["structures"] if s.name == "Lungs")
    # the lungs lie inside the upper field (mean above 90 % of its 6 Gy: parallel-opposed fields with lung
    # correction give the lungs slightly more than the midplane dose) and outside the lower one (scatter and
    # leakage beyond the field edge: under 5 % of its 8 Gy, AAPM TG-158)
    assert _mean_in(upper_dose, lungs) > 0.9 * upper.total_dose_gy
    assert _mean_in(lower_dose, lungs) < 0.05 * lower.total_dose_gy


def test_render_difference_heterogeneity_on_minus_off(coarse_ct, tmp_path, monkeypatch, capsys):
    from hbiview.render import slices

    calls = _spy(monkeypatch, slices, "render_difference_slice")
    folder, _ = coarse_ct
    png = tmp_path / "lung_correction.png"
    code = main(["render", str(folder), "--plan", "upper-hbi", "--difference", "--view", "coronal",
                 "--grid-mm", "10", "--size", "500", "400", "--out", str(png), "-q"])  # fmt: skip
    assert code == EXIT_OK, capsys.readouterr().err
    assert load_png(png).shape == (400, 500, 3)
    ((args, kwargs),) = calls
    on, off = args[1], args[2]
    assert (kwargs["label_a"], kwargs["label_b"]) == ("upper-hbi", "upper-hbi (water)")
    lungs = next(s for s in kwargs["structures"] if s.name == "Lungs")
    # lung correction raises the lung dose of AP/PA fields by ~5-25 % (less attenuation in lung; Van Dyk
    # 1981, AAPM TG-65): the difference map is positive in the lungs
    ratio = _mean_in(on, lungs) / _mean_in(off, lungs)
    assert 1.03 < ratio < 1.30


def test_view_plans_without_correction_and_a_scoped_option(coarse_ct, tmp_path, monkeypatch, capsys):
    import hbiview.render._pv as pv_module
    import hbiview.render.viewer as viewer_module

    folder, phantom = coarse_ct
    opened = []

    class OffScreenViewer(viewer_module.Viewer):
        """The real viewer, built in memory; 'showing' it saves one screenshot instead of waiting."""

        def __init__(self, *args, **kwargs):
            kwargs.update(off_screen=True, size=(400, 300), screenshot_dir=tmp_path)
            super().__init__(*args, **kwargs)
            opened.append(self)

        def show(self):
            self.screenshot()
            self.close()

    monkeypatch.setattr(pv_module, "has_display", lambda: True)
    monkeypatch.setattr(viewer_module, "Viewer", OffScreenViewer)
    code = main(["view", str(folder), "--plan", "upper-hbi", "spine", "--no-heterogeneity", "--grid-mm", "10",
                 "--set", "spine:level=L2"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == EXIT_OK, captured.err
    (viewer,) = opened
    assert f"wrote {tmp_path / 'hbiview-view-001.png'}" in captured.out
    assert load_png(tmp_path / "hbiview-view-001.png").shape == (300, 400, 3)
    (upper, _), (spine, spine_dose) = viewer.cases
    assert upper.name == "upper-hbi (water)" and spine.name.endswith("(water)")
    assert not upper.heterogeneity and not spine.heterogeneity
    # spine:level=L2 centres the spine field on the second lumbar vertebra: within 20 mm (two-thirds of a
    # lumbar vertebral body's height, ~30 mm) of the phantom's true L2 centre
    (beam,) = spine.beams
    assert beam.isocentre_lps_mm[2] == pytest.approx(phantom.vertebrae_mm["L2"], abs=20.0)
    assert spine_dose.geometry.spacing_mm == pytest.approx((10, 10, 10))


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        ("render {missing} --plan upper-hbi --out {out}/f.png", r"no_ct"),
        ("render {ct} --plan no-such-preset --out {out}/f.png", r"no-such-preset.*preset"),
        (
            "render {ct} --plan upper-hbi --difference --no-heterogeneity --out {out}/f.png",
            r"--no-heterogeneity",
        ),
        ("render {ct} --plan upper-hbi lower-hbi spine --difference --out {out}/f.png", r"two plans"),
        ("render {ct} --plan upper-hbi --set level --out {out}/f.png", r"KEY=VALUE"),
        ("view {ct} --plan upper-hbi lower-hbi spine pelvis mid-hbi", r"1 to 4 plans"),
    ],
)
def test_render_bad_input_one_line_nothing_written(coarse_ct, tmp_path, capsys, argv, pattern):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    filled = [a.format(ct=coarse_ct[0], out=out_dir, missing=tmp_path / "no_ct") for a in argv.split()]
    code = main(filled)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_BAD_INPUT
    assert len(err) == 1 and err[0].startswith("hbiview: error: ")
    assert re.search(pattern, err[0]), err
    assert list(out_dir.iterdir()) == []
