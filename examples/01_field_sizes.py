"""Lesson 1: field sizes.

Question: what do upper, mid and lower hemi-body fields and a localized spine field cover, and how much lung
and active bone marrow does each one irradiate?

On the bundled sample patient, four plans from hbiview's presets:

* upper HBI 6 Gy x 1 (skull base to iliac crest), mid HBI 8 Gy x 1 (diaphragm to mid-thigh), lower HBI
  8 Gy x 1 (iliac crest to knees; the marrow ends above the knees, and a crest-to-ankle field is longer than
  40 cm jaws reach even at 2 m), all AP/PA at extended SSD and prescribed at midplane (Salazar et al.,
  Cancer 1986;58:29, RTOG 78-10);
* a PA spine field on T10, 8 Gy x 1 at 5 cm depth.

"In the field" means receiving at least half the prescription (the 50 % isodose is the edge of an open
field). The organs other than lungs and marrow come from the sample patient's own organ labels (the
phantom's ground truth), because hbiview's segmentation finds body, lungs, skeleton and marrow only.

Run: ``python examples/01_field_sizes.py [--out DIR]`` (about 20 s). Writes ``fields_3d.png``,
``coverage.png`` and ``summary.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import hbiview
from hbiview import dvh
from hbiview.errors import InputError
from hbiview.labels import MARROW_SITES, TISSUE_LABELS
from hbiview.lessons import lecture_style, lesson_cli, save_figure, write_summary
from hbiview.pipeline import load_case, run_plan
from hbiview.sample import make_phantom

PLANS = (
    ("upper HBI", "upper-hbi", {}),
    ("mid HBI", "mid-hbi", {}),
    ("lower HBI", "lower-hbi", {"inferior": "knees"}),
    ("spine T10", "spine", {"level": "T10"}),
)
#: organs of the phantom's ground truth shown in the coverage table (label names of hbiview.labels)
ORGANS = ("brain", "heart", "liver", "kidney_left", "spleen", "bowel", "bladder", "spinal_cord")


def _organ(case: Any, labels: np.ndarray, name: str) -> hbiview.Structure:
    value = next(k for k, v in TISSUE_LABELS.items() if v == name)
    return hbiview.Structure(case.ct.geometry, labels == value, name=name)


def _fraction_in_field(run: Any, structure: hbiview.Structure) -> float:
    """Fraction (0-1) of a structure's volume receiving at least 50 % of the prescription."""
    curve = dvh(run.dose, structure)
    return float(curve.v_gy_pct(0.5 * run.prescription_gy)) / 100.0


def main(out_dir: str | Path, *, quick: bool = False, case: Any = None) -> dict[str, Any]:
    """Run the lesson; write ``fields_3d.png``, ``coverage.png`` and ``summary.md`` into ``out_dir``.

    Returns the key numbers: per plan, mean lung dose (Gy), lung and active-marrow fractions in the field.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    phantom = make_phantom()  # the sample patient with its organ labels (same image as sample_ct/)
    case = case or load_case(phantom.ct)
    if not case.ct.geometry.isclose(phantom.ct.geometry):
        raise InputError("lesson 1 needs the bundled sample patient (its organ labels); pass case=None")
    grid = 10.0 if quick else None  # None: 5 mm for hemi-body fields, 2.5 mm for the spine field
    runs = [
        run_plan(case, preset, label=label, grid_mm=grid, structures=["Lungs", "Marrow"], **opts)
        for label, preset, opts in PLANS
    ]

    # ------------------------------------------------------------------------------ numbers
    rows = []
    for run in runs:
        rows.append(
            {
                "plan": run.label,
                "prescription": f"{run.plan.prescription_gy:g} Gy x {run.plan.fractions}",
                "mean_lung_gy": run.mean_lung_dose_gy,
                "lung_in_field": _fraction_in_field(run, case.structures["Lungs"]),
                "marrow_in_field": run.active_marrow_in_field(),
            }
        )
    site_share = case.anatomy.site_fractions
    coverage = np.zeros((len(MARROW_SITES) + 1 + len(ORGANS), len(runs)))
    row_names = ["lungs"] + [f"marrow: {s.replace('_', ' ')}" for s in MARROW_SITES]
    row_names += [o.replace("_", " ").replace("kidney left", "left kidney") for o in ORGANS]
    organs = [_organ(case, phantom.labels, o) for o in ORGANS]
    for j, run in enumerate(runs):
        half = 0.5 * run.prescription_gy
        coverage[0, j] = rows[j]["lung_in_field"]
        for i, site in enumerate(MARROW_SITES, start=1):
            share = site_share.get(site, 0.0)
            if share > 0:
                curve = dvh(run.dose, case.anatomy.marrow_site(site))
                coverage[i, j] = curve.weighted_fraction_at_least(half) / share
        for i, organ in enumerate(organs, start=1 + len(MARROW_SITES)):
            coverage[i, j] = _fraction_in_field(run, organ)

    # ------------------------------------------------------------------------------ figures
    # linked cameras, the whole patient in every panel; the prescriptions differ (6 and 8 Gy), so each panel
    # is coloured in percent of its own plan's prescription, with one colour bar in %
    options = hbiview.SceneOptions(
        planes=("coronal",),
        camera="anterior",
        frame="body",
        show_beams=False,
        show_legend=False,
        show_orientation=False,
    )
    size = (1200, 620) if quick else (2400, 1240)
    scene = hbiview.render_compare_3d(
        case.ct,
        [(run.plan, run.dose) for run in runs],
        structures=case.structures,
        options=options,
        size=size,
        scale="percent",
        labels=[run.label for run in runs],
        font_scale=1.3,
    )
    upper, _mid, lower, spine = rows
    takeaway = (
        f"Upper HBI treats all of the lungs and {100 * upper['marrow_in_field']:.0f} % of the active marrow; "
        f"lower HBI no lung and {100 * lower['marrow_in_field']:.0f} %; a spine field "
        f"{100 * spine['marrow_in_field']:.0f} %"
    )
    with lecture_style():
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(24, 15))
        fig.suptitle(takeaway, y=0.985)
        scene_ax = fig.add_axes((0.01, 0.28, 0.98, 0.67))
        scene_ax.imshow(scene)
        scene_ax.set_axis_off()
        table_ax = fig.add_axes((0.08, 0.02, 0.84, 0.25))
        table_ax.set_axis_off()
        cells = [
            [
                r["plan"],
                r["prescription"],
                f"{r['mean_lung_gy']:.1f}",
                f"{100 * r['lung_in_field']:.0f} %",
                f"{100 * r['marrow_in_field']:.0f} %",
            ]
            for r in rows
        ]
        table = table_ax.table(
            cellText=cells,
            colLabels=[
                "plan",
                "prescription (midplane)",
                "mean lung dose (Gy)",
                "lung volume in field",
                "active marrow in field",
            ],
            loc="center",
            cellLoc="center",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(21)
        table.scale(1.0, 2.6)
        for (r, _), cell in table.get_celld().items():
            if r == 0:
                cell.set_text_props(fontweight="bold")
                cell.set_facecolor("#e6e6e6")
        fig.text(
            0.5,
            0.005,
            "in field = at least 50 % of the prescription; active marrow weighted by site (ICRP 89 adult "
            "distribution); coronal plane: dose in % of each plan's own prescription",
            ha="center",
            fontsize=15,
            color="#444444",
        )
        save_figure(fig, out / "fields_3d.png")

        fig, ax = plt.subplots(figsize=(15, 14))
        image = ax.imshow(100 * coverage, cmap="Reds", vmin=0, vmax=100, aspect="auto")
        ax.set_xticks(range(len(runs)), [r.label for r in runs])
        ax.xaxis.tick_top()
        ax.set_yticks(range(len(row_names)), row_names)
        ax.grid(False)
        for i in range(coverage.shape[0]):
            for j in range(coverage.shape[1]):
                value = 100 * coverage[i, j]
                ax.text(
                    j,
                    i,
                    f"{value:.0f}",
                    ha="center",
                    va="center",
                    fontsize=16,
                    color="white" if value > 60 else "black",
                )
        for y in (0.5, len(MARROW_SITES) + 0.5):
            ax.axhline(y, color="black", lw=2)
        bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
        bar.set_label("% of the organ (marrow: of the site's active marrow) in the field")
        fig.suptitle("Which organs each field irradiates (% at >= 50 % of the prescription)")
        fig.tight_layout()
        save_figure(fig, out / "coverage.png")

    # ------------------------------------------------------------------------------ summary
    lines = [
        "# Lesson 1: field sizes",
        "",
        f"**Take-away.** {takeaway}.",
        "",
        "| plan | prescription | mean lung dose (Gy) | lung volume in field | active marrow in field |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['plan']} | {r['prescription']} | {r['mean_lung_gy']:.2f} "
            f"| {100 * r['lung_in_field']:.0f} % | {100 * r['marrow_in_field']:.1f} % |"
        )
    lines += ["", "Field set-up (from the presets):", ""]
    lines += [f"- **{run.label}**: {run.plan.description}" for run in runs]
    lines += [
        "",
        "Sources: prescriptions 6 Gy upper, 8 Gy mid and lower HBI from Salazar et al., Cancer 1986;58:29 "
        "(RTOG 78-10); field borders from AAPM Report 17 (TG-29, Van Dyk et al. 1986) and review literature "
        "(hbi_clinical.toml: unverified); active-marrow shares of each skeletal site from the ICRP 89 adult "
        "distribution used by hbiview's marrow model.",
        "",
        "Note: the marrow of the cranium (about 8 % of the active marrow) is above the upper field's "
        "superior border (skull base), so the upper field holds less than the 63 % that ICRP 110 phantoms "
        "hold above the iliac crest.",
    ]
    if quick:
        lines += ["", "_Quick run: 10 mm dose grids and small pictures._"]
    write_summary(out / "summary.md", "\n".join(lines))
    return {
        "plans": {r["plan"]: r for r in rows},
        "coverage": {
            name: dict(zip([r.label for r in runs], map(float, coverage[i])))
            for i, name in enumerate(row_names)
        },
        "files": ["fields_3d.png", "coverage.png", "summary.md"],
    }


if __name__ == "__main__":
    raise SystemExit(lesson_cli(main, 1))
