"""Colours, window/level presets, isodose levels and names shared by every view (no heavy imports).

One place decides how a lung, a 95 % isodose or a bone window looks, so that a 3D scene, a slice and a
comparison figure of the same plan use the same colours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from hbiview.errors import InputError
from hbiview.volume import Structure

__all__ = [
    "DEFAULT_ISODOSE_PCT",
    "LUNG_COLOR",
    "PATIENT_DIRECTIONS",
    "SHELL_ISODOSE_PCT",
    "WINDOWS",
    "PlanLike",
    "classify_structure",
    "isodose_color",
    "plan_title",
    "structures_by_role",
    "window_range",
]

#: Default isodose levels, percent of the prescribed total dose.
DEFAULT_ISODOSE_PCT: tuple[float, ...] = (50.0, 80.0, 95.0, 105.0)

#: Isodose shells of the 3D scene: the irradiated volume (50 %) and the treated volume (95 %). Two nested
#: translucent shells read at a glance; four hide each other.
SHELL_ISODOSE_PCT: tuple[float, ...] = (50.0, 95.0)

#: Fixed colour (RGB 0-1) of the usual isodose levels, percent of prescription -> colour. Cold to hot, so
#: that the order of the levels reads at a glance; the same colours in 3D, slices and comparisons.
_ISODOSE_COLORS: dict[float, tuple[float, float, float]] = {
    20.0: (0.55, 0.35, 0.75),  # violet
    30.0: (0.35, 0.35, 0.90),  # indigo
    50.0: (0.15, 0.45, 1.00),  # blue
    70.0: (0.00, 0.75, 0.85),  # cyan
    80.0: (0.10, 0.80, 0.25),  # green
    90.0: (0.80, 0.85, 0.10),  # yellow-green
    95.0: (1.00, 0.80, 0.00),  # yellow
    100.0: (1.00, 0.50, 0.00),  # orange
    105.0: (0.95, 0.10, 0.10),  # red
    110.0: (0.85, 0.00, 0.60),  # magenta
}

#: Hot end of the dose colour map above 110 %: magenta, dark plum, pink, white. Each 10 % step from 110 to
#: 150 % then differs by at least 16 CIELAB units on the slices' colourwash (27 in full colour); the former
#: straight magenta-to-pale-pink ramp gave 11 between 110 and 120 % (8 in full colour), hard to tell apart.
_HOT_COLORS: dict[float, tuple[float, float, float]] = {
    120.0: (0.55, 0.00, 0.40),  # dark plum
    135.0: (1.00, 0.60, 0.85),  # pink
    150.0: (1.00, 1.00, 1.00),  # white
}

#: Display colour of the lungs (outlines and 3D surfaces): a pale ice blue, far lighter than the 50 %
#: isodose's saturated blue, so that a lung outline is never read as the 50 % line (the structures' own
#: blues, e.g. (70, 130, 220), were within a few shades of it).
LUNG_COLOR: tuple[float, float, float] = (0.78, 0.93, 1.00)

#: CT window presets: name -> (level HU, width HU), the usual radiology values.
WINDOWS: dict[str, tuple[float, float]] = {
    "soft": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}

#: Label of each LPS half-axis: +x is the patient's left, +y posterior, +z superior (head).
PATIENT_DIRECTIONS: dict[str, str] = {"+x": "L", "-x": "R", "+y": "P", "-y": "A", "+z": "H", "-z": "F"}

_BODY_NAMES = re.compile(r"^(body|external|skin|outline|body_?outline|patient)$", re.IGNORECASE)


class PlanLike(Protocol):
    """What the renderer uses of a treatment plan (:class:`hbiview.plans.Plan` has it)."""

    name: str
    prescription_gy: float  # per fraction
    fractions: int

    def beam_outlines(self) -> list[tuple[Any, Any]]:
        """Per beam: source position (3,) and the four field corners (4, 3) at the isocentre, LPS mm."""
        ...


def isodose_color(pct: float) -> tuple[float, float, float]:
    """Display colour (RGB 0-1) of the isodose at ``pct`` percent of the prescription.

    The usual levels have fixed colours; other levels take the colour of the nearest tabulated level.
    """
    nearest = min(_ISODOSE_COLORS, key=lambda level: abs(level - float(pct)))
    return _ISODOSE_COLORS[nearest]


def window_range(window: str | tuple[float, float]) -> tuple[float, float]:
    """HU range ``(low, high)`` of a window preset name or of a ``(level, width)`` pair.

    Raises
    ------
    InputError
        For an unknown preset name.
    """
    if isinstance(window, str):
        if window not in WINDOWS:
            raise InputError(f"unknown CT window {window!r}: choose one of {', '.join(WINDOWS)}")
        level, width = WINDOWS[window]
    else:
        level, width = (float(v) for v in window)
    return level - width / 2.0, level + width / 2.0


def classify_structure(name: str) -> str:
    """Role of a structure for display, from its name.

    Returns
    -------
    str
        ``"body"``, ``"lung"``, ``"marrow"``, ``"skeleton"`` or ``"other"``.
    """
    key = name.strip().lower().replace(" ", "_")
    if _BODY_NAMES.match(key):
        return "body"
    if "marrow" in key:
        return "marrow"
    if "lung" in key:
        return "lung"
    if key in {"skeleton", "bone", "bones"} or key.startswith("skeleton"):
        return "skeleton"
    return "other"


def structures_by_role(
    structures: Iterable[Structure] | Mapping[str, Structure] | None,
) -> dict[str, list[Structure]]:
    """Group structures by display role (see :func:`classify_structure`)."""
    roles: dict[str, list[Structure]] = {"body": [], "lung": [], "skeleton": [], "marrow": [], "other": []}
    if structures is None:
        return roles
    items = structures.values() if isinstance(structures, Mapping) else structures
    for structure in items:
        roles[classify_structure(structure.name)].append(structure)
    # a union "Lungs" beside the two sides would be drawn twice: keep the sides
    sides = [s for s in roles["lung"] if s.name.strip().lower() not in ("lung", "lungs")]
    if sides:
        roles["lung"] = sides
    return roles


def prescription_total_gy(plan: PlanLike) -> float:
    """Prescribed dose of the whole course (Gy): dose per fraction times fractions."""
    return float(plan.prescription_gy) * int(plan.fractions)


def plan_title(plan: PlanLike | None, name: str | None = None) -> str:
    """One-line title: plan name and prescription, e.g. ``upper-hbi: 6 Gy x 1 = 6 Gy``.

    ``name`` replaces the plan's name (a panel label); the prescription is always given, because the
    dose colours and isodose percentages refer to it.
    """
    if plan is None:
        return name if name is not None else "CT"
    name = plan.name if name is None else name
    per_fraction = float(plan.prescription_gy)
    fractions = int(plan.fractions)
    if fractions == 1:
        return f"{name}: {per_fraction:g} Gy in 1 fraction"
    return f"{name}: {per_fraction:g} Gy x {fractions} = {per_fraction * fractions:g} Gy"


def check_levels(levels_pct: Sequence[float]) -> tuple[float, ...]:
    """Validated, sorted isodose levels (percent of prescription)."""
    levels = tuple(sorted(float(v) for v in levels_pct))
    if not levels or levels[0] <= 0 or levels[-1] > 200:
        raise InputError(f"isodose levels must be between 0 and 200 % of the prescription, got {levels_pct}")
    return levels
