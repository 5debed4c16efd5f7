"""Lesson 7: why radionuclides took the place of hemi-body irradiation.

Question: upper then lower hemi-body irradiation (6 Gy, then 8 Gy weeks later) against one injection of
150 MBq strontium-89 chloride (Metastron) or 37 MBq/kg samarium-153 EDTMP (Quadramet): what does each do
to the active marrow, the lungs and the bone surfaces where the metastases grow?

On the bundled sample patient the two hemi-body fields are computed with hbiview's convolution engine and
the two radionuclides with its systemic model (``hbiview.systemic``: the patient's skeleton from the CT,
the ICRP alkaline-earth biokinetic model for strontium with bone-volume activity split by bone mass as in
the ICRP 30 dosimetry behind ICRP 53 (the default 'label' biokinetics; the current ICRP 67 split, option
'icrp', is shown too), the Quadramet label's biodistribution for Sm-153, ICRP 30 skeletal absorbed
fractions, beta and photon kernels by FFT convolution). For the fields the
"bone-surface" column is the mean dose to the whole skeleton (an external beam irradiates bone surfaces
and the bone around them alike); for the radionuclides it is the mean dose to the 10 um layer of cells on
the bone surfaces (ICRP 30 model).

Run: ``python examples/07_radionuclides.py [--out DIR]`` (about 30 s). Writes ``radionuclides.png`` and
``summary.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbiview.lessons import lecture_style, lesson_cli, save_figure, write_summary
from hbiview.pipeline import load_case, run_plan
from hbiview.systemic import agent, compute_systemic, run_systemic

COLOURS = {"upper": "#d62728", "lower": "#1f77b4", "sr89": "#2ca02c", "sm153": "#9467bd"}


def main(out_dir: str | Path, *, quick: bool = False, case: Any = None) -> dict[str, Any]:
    """Run the lesson; write the figure and ``summary.md`` into ``out_dir``.

    Returns the key numbers per treatment: mean active-marrow dose (Gy), share of the active marrow
    receiving at least 1 Gy, mean lung dose (Gy), bone-surface (or skeleton) dose (Gy), and for the
    radionuclides the activity (MBq) and the share of the dose given in the first week.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    case = case or load_case()
    grid = 10.0 if quick else 5.0
    names = ["Marrow", "Lungs", "Skeleton"]
    upper = run_plan(case, "upper-hbi", label="upper HBI 6 Gy", grid_mm=grid, structures=names)
    lower = run_plan(
        case, "lower-hbi", label="lower HBI 8 Gy", grid_mm=grid, structures=names, inferior="knees"
    )
    sr = run_systemic(case, "sr89", activity_mbq=150.0, grid_mm=grid, structures=names)
    sm = run_systemic(case, "sm153", activity_mbq_per_kg=37.0, grid_mm=grid, structures=names)
    # the same Sr-89 decays with the current ICRP model's own trabecular/cortical split
    sr_icrp = compute_systemic(case, "sr89", activity_mbq=150.0, grid_mm=grid, biokinetics="icrp")

    rows: dict[str, dict[str, Any]] = {}
    for key, run in (("upper", upper), ("lower", lower), ("sr89", sr), ("sm153", sm)):
        marrow = run.metrics("Marrow")
        row = {
            "label": run.label,
            "marrow_gy": float(marrow["weighted_mean_gy"]),
            "marrow_ge_1gy": float(run.active_marrow_fraction(1.0)),
            "lung_gy": float(run.mean_lung_dose_gy),
            "bone_gy": float(run.metrics("Skeleton")["mean_gy"]),
        }
        if key in ("sr89", "sm153"):
            result = run.result
            half_life_d = result.agent.nuclide.half_life_d
            row["bone_gy"] = float(result.bone_surface_gy)
            row["activity_mbq"] = float(result.activity_mbq)
            row["marrow_mgy_per_mbq"] = 1000 * float(result.red_marrow_gy_per_mbq)
            row["bone_surface_mgy_per_mbq"] = 1000 * float(result.bone_surface_gy_per_mbq)
            # at most the physical half-life sets how fast the dose is given; Sm-153 EDTMP is not released
            # from bone (Quadramet label), so its share of dose in the first week is the decay's
            row["first_week"] = float(1.0 - 0.5 ** (7.0 / half_life_d))
            row["half_life_d"] = half_life_d
        rows[key] = row
    rows["sr89"]["marrow_icrp_mgy_per_mbq"] = 1000 * float(sr_icrp.red_marrow_gy_per_mbq)
    both_marrow = rows["upper"]["marrow_gy"] + rows["lower"]["marrow_gy"]
    lung_ratio = rows["upper"]["lung_gy"] / max(rows["sr89"]["lung_gy"], rows["sm153"]["lung_gy"])

    takeaway = (
        f"One injection reaches every metastasis at once and gives the lungs {lung_ratio:.0f} times less "
        f"than the upper field;\nthe active marrow gets {rows['sr89']['marrow_gy']:.1f} Gy (Sr-89) or "
        f"{rows['sm153']['marrow_gy']:.1f} Gy (Sm-153), over days to months, against "
        f"{both_marrow:.1f} Gy from the two hemi-body courses"
    )
    order = ["upper", "lower", "sr89", "sm153"]
    with lecture_style():
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 3, figsize=(24, 10))
        fig.suptitle(takeaway, y=0.99)
        labels = [rows[k]["label"].replace(" MBq", "\nMBq").replace(" HBI", "\nHBI") for k in order]
        colours = [COLOURS[k] for k in order]
        panels = [
            ("marrow_gy", "Active marrow: mean dose (Gy)", False),
            ("lung_gy", "Lungs: mean dose (Gy, log scale)", True),
            ("bone_gy", "Bone surfaces (fields: skeleton) (Gy)", False),
        ]
        for ax, (key, title, log) in zip(axes, panels):
            values = [rows[k][key] for k in order]
            ax.bar(np.arange(4), values, color=colours, edgecolor="black")
            floor = 1e-3
            for x, v in enumerate(values):
                text = f"{v:.2g}" if not log or v >= floor else f"< {floor:g}"
                y = max(v, floor) * (1.15 if log else 1.0)
                ax.text(x, y, text, ha="center", va="bottom", fontsize=17)
            ax.set_xticks(np.arange(4), labels, fontsize=15)
            ax.set_title(title)
            if log:
                ax.set_yscale("log")
                ax.set_ylim(floor / 2, 5 * max(values))
            else:
                ax.set_ylim(0, 1.2 * max(values))
            ax.grid(axis="x", visible=False)
        fig.text(
            0.01,
            0.01,
            "Absorbed doses, not RBE- or dose-rate-weighted. Fields: convolution engine; radionuclides: "
            "hbiview.systemic (ICRP alkaline-earth model for Sr split as ICRP 53, Quadramet label for Sm; "
            "ICRP 30 skeleton).",
            fontsize=13,
            color="#444444",
        )
        fig.tight_layout(rect=(0, 0.04, 1, 0.92))
        save_figure(fig, out / "radionuclides.png")

    def line(key: str) -> str:
        r = rows[key]
        extra = ""
        if "activity_mbq" in r:
            extra = f" ({r['marrow_mgy_per_mbq']:.3g} mGy/MBq; half-life {r['half_life_d']:.3g} d)"
        return (
            f"| {r['label']} | {r['marrow_gy']:.2f}{extra} | {100 * r['marrow_ge_1gy']:.0f} % "
            f"| {r['lung_gy']:.3f} | {r['bone_gy']:.1f} |"
        )

    sr_ref, sm_ref = agent("sr89"), agent("sm153")
    lines = [
        "# Lesson 7: why radionuclides took the place of hemi-body irradiation",
        "",
        f"**Take-away.** {takeaway.replace(chr(10), ' ')}.",
        "",
        "| treatment | active marrow, mean (Gy) | active marrow >= 1 Gy | lungs, mean (Gy) "
        "| bone surfaces (Gy; fields: skeleton) |",
        "|---|---|---|---|---|",
        *[line(k) for k in order],
        "",
        f"Sm-153 at 37 MBq/kg is {rows['sm153']['activity_mbq']:.0f} MBq for this patient's "
        f"{sm.result.body_mass_kg:.0f} kg (body mass from the CT densities). "
        "The hemi-body fields irradiate half of the skeleton each, weeks apart, and the upper field the "
        "lungs with it (the dose behind its pneumonitis risk); a bone-seeking agent goes wherever bone is "
        "being formed, so every metastasis in the skeleton is treated by one injection, and the lungs get "
        "only the photons, the betas from the edge of the ribs and spine, and the activity still in blood "
        "and soft tissue (for Sr-89 about the 0.8 mGy/MBq the Metastron label gives soft-tissue organs).",
        "",
        "What the numbers do not say (limits):",
        "",
        "- All doses are absorbed doses. A dose given over days to months (Sm-153, not released from bone, "
        f"gives {100 * rows['sm153']['first_week']:.0f} % of its dose in the first week; Sr-89, half-life "
        f"{rows['sr89']['half_life_d']:.1f} days, over months) does less to marrow and lungs than the same "
        "dose in "
        "minutes: the marrow recovers while it is irradiated. Its effect is not that of an acute "
        "fraction, so the radionuclides' marrow doses are not comparable one to one with the fields'.",
        "- The skeletal uptake is that of the reference adult (uniform over normal bone). In patients with "
        "widespread metastases far more is retained (the Metastron label: 'well over half' of Sr-89), so "
        "their marrow doses are higher and lesions get several times the bone-surface dose.",
        "- The decays come from published biokinetic models, nothing fitted to the reference doses. Sm-153 "
        "from the Quadramet label's uptake gives "
        f"{rows['sm153']['marrow_mgy_per_mbq']:.2f} mGy/MBq to the red marrow (label "
        f"{1000 * sm_ref.reference_red_marrow_gy_per_mbq:.2f}). Sr-89 from the ICRP alkaline-earth model, "
        "its bone-volume activity split by bone mass (20 % trabecular) as the ICRP 30 dosimetry behind "
        f"ICRP 53 does, gives {rows['sr89']['marrow_mgy_per_mbq']:.1f} (ICRP 53: "
        f"{1000 * sr_ref.reference_red_marrow_gy_per_mbq:g}). The current ICRP model's own split puts 55 % "
        "of skeletal strontium in trabecular bone, next to the marrow, and gives "
        f"{rows['sr89']['marrow_icrp_mgy_per_mbq']:.1f} (`--biokinetics icrp`): the Sr-89 marrow dose is "
        "uncertain by that factor of two.",
        "- The fields' marrow dose is the mean over the whole body's active marrow; its biology is that of "
        "a large acute dose to half of it, with the other half spared (lesson 3).",
        "",
        "Sources: prescriptions Salazar et al., Cancer 1986;58:29 (RTOG 78-10); Sr-89 biokinetics ICRP "
        "Publication 67 (Leggett 1992; rates of ICRP 134), reference dosimetry ICRP Publication 53 as in "
        f"the Metastron label ({1000 * sr_ref.reference_red_marrow_gy_per_mbq:g} "
        "mGy/MBq red marrow); Sm-153 EDTMP uptake and dosimetry, Quadramet label; skeletal absorbed "
        "fractions ICRP Publication 30; decay data ICRP Publication 107; reference masses Cristy and "
        "Eckerman, ORNL/TM-8381 (all in hbiview/data/bone_seekers.toml).",
    ]
    if quick:
        lines += ["", "_Quick run: 10 mm dose grids._"]
    write_summary(out / "summary.md", "\n".join(lines))
    return {"rows": rows, "lung_ratio": lung_ratio, "files": ["radionuclides.png", "summary.md"]}


if __name__ == "__main__":
    raise SystemExit(lesson_cli(main, 7))
