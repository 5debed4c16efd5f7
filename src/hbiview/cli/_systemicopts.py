"""``--systemic AGENT[:ACTIVITY]`` for ``dvh``, ``report`` and ``render``: radionuclides beside the plans.

``--systemic sr89`` (the usual 150 MBq), ``--systemic sr89:200`` (MBq) or ``--systemic sm153:37/kg``
(MBq per kg of body mass), ``--systemic sr89@icrp`` (the current ICRP model instead of the biokinetics of
the reference doses); repeatable. Each becomes a :class:`hbiview.systemic.SystemicRun` on the same case
as the plans, so that one table and one picture hold them all.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = [
    "SYSTEMIC_HELP",
    "add_systemic_argument",
    "check_systemic",
    "systemic_header",
    "systemic_lines",
    "systemic_runs",
]

SYSTEMIC_HELP = (
    "a bone-seeking radionuclide beside the plans: sr89, sm153 or ra223, optionally with its activity "
    "(sr89:150 in MBq, sm153:37/kg in MBq/kg; default the usual activity) and its biokinetics (@label, the "
    "default: those of its reference doses; @icrp: the current ICRP model, e.g. sr89@icrp); repeatable"
)


def add_systemic_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--systemic`` to a sub-command's parser."""
    parser.add_argument(
        "--systemic", action="extend", nargs="+", default=[], metavar="AGENT[:A]", help=SYSTEMIC_HELP
    )


def check_systemic(items: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Parse every ``--systemic`` item before any long step (bad agents and activities fail first)."""
    from hbiview.systemic import agent, parse_systemic

    parsed = []
    for item in items:
        name, options = parse_systemic(item)
        # raises InputError naming the agents, or the biokinetics an agent has (no ICRP model for Sm-153)
        agent(name, options.get("biokinetics"))
        parsed.append((name, options))
    return parsed


def systemic_runs(
    case: Any, items: list[str], structures: Any = None, grid_mm: float | None = None
) -> list[Any]:
    """One :class:`hbiview.systemic.SystemicRun` per ``--systemic`` item, on ``case``.

    ``grid_mm``: the commands' ``--grid-mm`` (default 5 mm, the hemi-body fields' grid).
    """
    from hbiview.progress import progress
    from hbiview.systemic import run_systemic

    parsed = check_systemic(items)
    return [
        run_systemic(case, name, structures=structures, grid_mm=grid_mm or 5.0, **options)
        for name, options in progress(parsed, desc="systemic doses")
    ]


def systemic_header(run: Any) -> str:
    """One line per systemic run, like a plan's header."""
    r = run.result
    grid = r.dose.geometry.spacing_mm
    return (
        f"{run.label}: {r.agent.product}, {r.activity_mbq:.0f} MBq intravenous, absorbed dose (not "
        f"RBE-weighted), {grid[0]:g} mm dose grid; doses in Gy (whole decay)"
    )


def systemic_lines(run: Any) -> list[str]:
    """Active marrow and bone surfaces against the reference, and what the metrics mean here."""
    r = run.result
    a = r.agent
    return [
        f"active marrow {r.red_marrow_gy:.2f} Gy ({1000 * r.red_marrow_gy_per_mbq:.3g} mGy/MBq), bone "
        f"surfaces {r.bone_surface_gy:.2f} Gy ({1000 * r.bone_surface_gy_per_mbq:.3g} mGy/MBq); "
        f"{a.reference}: {1000 * a.reference_red_marrow_gy_per_mbq:g} and "
        f"{1000 * a.reference_bone_surface_gy_per_mbq:g} mGy/MBq",
        *run.notes,
    ]
