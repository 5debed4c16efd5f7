"""``hbiview systemic CT --agent sr89|sm153|ra223 --out FILE``: the dose of a bone-seeking radionuclide."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "read_uptake", "run"]

EPILOG = """\
examples:
  hbiview systemic sample_ct --agent sr89 --out sr89.dcm                      (150 MBq, the usual activity)
  hbiview systemic sample_ct --agent sm153 --activity-mbq-per-kg 37 --out sm153.dcm
  hbiview systemic /data/ct --agent ra223 --activity-mbq-per-kg 0.055 --out ra223.nii.gz --json
  hbiview systemic /data/ct --agent sr89 --uptake lesions.nii.gz --lesion-ratio 8 --out sr89.dcm
  hbiview systemic /data/ct --agent sm153 --uptake spect_on_ct.nii.gz --out sm153.dcm
  hbiview systemic sample_ct --agent sr89 --biokinetics icrp --out sr89_icrp.dcm   (the modern ICRP model)

--biokinetics picks where the decays happen. 'label' (default) uses the biokinetics each agent's reference
doses were computed with, so that hbiview's numbers can be checked against them:
  sr89   ICRP alkaline-earth model (ICRP 67, rates of ICRP 134), bone-volume activity split between
         trabecular and cortical bone by bone mass (1 : 4), as the ICRP 30 dosimetry behind ICRP 53 and the
         Metastron label (11.0 mGy/MBq to red marrow);
  sm153  the Quadramet label's biodistribution (65.5 % to bone, kept; the rest to urine);
  ra223  patients with bone metastases (61 % in bone at 4 h, the rest through the gut; Carrasquillo et al.
         2013) with the ICRP model's bone kinetics, as the population behind the Xofigo label.
'icrp' uses the current ICRP models for healthy adults: Sr-89 with ICRP 67's own split (55 % of skeletal
strontium in trabecular bone, next to the marrow: about twice the marrow dose, 21 mGy/MBq) and Ra-223 by
ICRP 137 (29 % in bone at 4 h). The Xofigo label's doses lie between Ra-223's two: 'label' gives about 1.4
times its red-marrow dose, 'icrp' 0.74 times. Sm-153 EDTMP has no ICRP model.

--uptake takes 'uniform' (default: the same uptake everywhere in the skeleton), a lesion mask (NIfTI or
NRRD of 0 and 1: lesion bone takes up --lesion-ratio times more) or an uptake image registered to the CT
(bone scan or SPECT, any other values: relative uptake). The skeleton, its marrow and the marrow sites come
from the CT as for the plans.

Model: biokinetics (above) solved as linear compartment systems with physical decay; ICRP 30 skeletal
absorbed fractions; Loevinger beta kernel and first-interaction photon kernel by FFT convolution; sources in
hbiview/data/bone_seekers.toml. Absorbed dose (Gy), not RBE-weighted. Inside trabecular bone the map holds
the active-marrow dose, elsewhere the water-equivalent dose. For comparison and teaching, not for treatment.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``systemic`` sub-command."""
    parser = subparsers.add_parser(
        "systemic",
        help="absorbed dose of a bone-seeking radionuclide (Sr-89, Sm-153, Ra-223) on a CT",
        description="Compute the absorbed dose of one intravenous administration of strontium-89, "
        "samarium-153 EDTMP or radium-223 in the patient's own skeleton and write it like a plan's dose.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("ct", metavar="CT", help="CT folder (or file list) to read")
    parser.add_argument("--agent", required=True, choices=("sr89", "sm153", "ra223"), help="the agent")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--activity-mbq", type=float, metavar="A", help="administered activity (MBq)")
    group.add_argument(
        "--activity-mbq-per-kg",
        type=float,
        metavar="a",
        help="activity per kg of body mass (mass from the CT); default the usual activity of the agent: "
        "150 MBq Sr-89, 37 MBq/kg Sm-153, 0.055 MBq/kg Ra-223",
    )
    parser.add_argument(
        "--uptake", default="uniform", metavar="uniform|MASK|IMAGE", help="skeletal uptake (see below)"
    )
    parser.add_argument(
        "--lesion-ratio", type=float, default=5.0, metavar="R", help="lesion to normal bone uptake (mask)"
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="output: .dcm, .nii, .nii.gz or .vti")
    parser.add_argument(
        "--biokinetics",
        choices=("label", "icrp"),
        default="label",
        help="whose biokinetics: 'label' (default), those the agent's reference doses were computed with; "
        "'icrp', the current ICRP model for healthy adults (Sr-89, Ra-223); see below",
    )
    parser.add_argument("--grid-mm", type=float, default=5.0, metavar="G", help="dose grid spacing (5 mm)")
    parser.add_argument("--series", metavar="UID", help="SeriesInstanceUID of the CT to read")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def read_uptake(value: str) -> Any:
    """``"uniform"``, or a lesion :class:`Structure` / uptake image :class:`Volume` read from a file.

    A file holding only 0 and 1 is a lesion mask; any other values make an uptake image.
    """
    if value == "uniform":
        return "uniform"
    import numpy as np

    from hbiview.io.masks import read_mask, read_mask_array
    from hbiview.volume import Volume

    array, geometry = read_mask_array(value)
    values = np.unique(array[:: max(1, array.shape[0] // 64)])
    if set(values.tolist()) <= {0, 1}:
        return read_mask(value, name="Lesions")
    return Volume(geometry, np.asarray(array, dtype=np.float32))


def run(args: argparse.Namespace) -> int:
    """Compute and write the systemic dose."""
    import json

    from hbiview.errors import InputError
    from hbiview.io.atomic import check_writable
    from hbiview.pipeline import load_case
    from hbiview.systemic import compute_systemic

    out = args.out
    lower = out.lower()
    if not lower.endswith((".dcm", ".nii", ".nii.gz", ".vti")):
        raise InputError(f"{out}: unknown output format; use .dcm, .nii, .nii.gz or .vti")
    check_writable(out, args.force)
    case = load_case(args.ct, series=args.series)
    uptake = read_uptake(args.uptake)
    result = compute_systemic(
        case,
        args.agent,
        activity_mbq=args.activity_mbq,
        activity_mbq_per_kg=args.activity_mbq_per_kg,
        uptake=uptake,
        lesion_ratio=args.lesion_ratio,
        grid_mm=args.grid_mm,
        biokinetics=args.biokinetics,
    )
    dose = result.dose
    if lower.endswith(".dcm"):
        from hbiview.io.rtdose import write_rtdose

        write_rtdose(dose, out, ct=case.ct, description=dose.description, force=args.force)
    else:
        from hbiview.io.volume_files import write_volume

        write_volume(dose, out, force=args.force)
    summary = {
        "agent": args.agent,
        "product": result.agent.product,
        "biokinetics": result.agent.choice,
        "biokinetic_model": result.agent.model_source,
        "activity_mbq": round(result.activity_mbq, 2),
        "body_mass_kg": round(result.body_mass_kg, 1),
        "uptake": result.uptake,
        "red_marrow_gy": round(result.red_marrow_gy, 4),
        "bone_surface_gy": round(result.bone_surface_gy, 4),
        "red_marrow_mgy_per_mbq": round(1000 * result.red_marrow_gy_per_mbq, 3),
        "bone_surface_mgy_per_mbq": round(1000 * result.bone_surface_gy_per_mbq, 3),
        "reference": result.summary()["reference"],
        "site_red_marrow_gy": {k: round(v, 4) for k, v in result.site_red_marrow_gy.items()},
        "max_dose_gy": round(dose.max_gy, 4),
        "grid_shape_zyx": list(dose.geometry.shape),
        "rbe_weighted": False,
        "output": out,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    elif not args.quiet:
        rm, bs = summary["red_marrow_mgy_per_mbq"], summary["bone_surface_mgy_per_mbq"]
        print(
            f"{result.agent.product}: {result.activity_mbq:.1f} MBq "
            f"({result.body_mass_kg:.0f} kg in the scan)\n"
            f"  biokinetics    {result.agent.choice}: {result.agent.model_source}\n"
            f"  active marrow  {result.red_marrow_gy:.3f} Gy  ({rm:g} mGy/MBq)\n"
            f"  bone surfaces  {result.bone_surface_gy:.3f} Gy  ({bs:g} mGy/MBq)\n"
            f"  reference      {summary['reference']}\n"
            "  absorbed dose, not RBE-weighted"
        )
        print(f"wrote {out}")
    return 0
