"""TOML plan files read back into plans, every key checked (errors name file and key).

:meth:`hbiview.plans.Plan.to_toml` writes them.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hbiview.errors import MissingInputError, PlanError
from hbiview.plans.model import (
    COMPENSATIONS,
    ENERGIES,
    MAX_DOSE_PER_FRACTION_GY,
    MAX_FRACTIONS,
    MAX_JAW_MM,
    MAX_SSD_MM,
    MAX_TOTAL_DOSE_GY,
    MIN_SSD_MM,
    PATIENT_POSITIONS,
    Beam,
    Block,
    Normalization,
    Plan,
)
from hbiview.plans.resolve import resolve_plan

if TYPE_CHECKING:
    from hbiview.volume import CTVolume

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# ---------------------------------------------------------------------------------------------- TOML files
_PLAN_KEYS = {
    "name",
    "description",
    "prescription_gy",
    "fractions",
    "normalization",
    "heterogeneity",
    "grid_mm",
    "beams",
    "compensation",
}
_BEAM_KEYS = {
    "name",
    "energy",
    "gantry_deg",
    "collimator_deg",
    "field_mm",
    "field_offset_mm",
    "ssd_mm",
    "weight",
    "blocks",
    "isocentre_lps_mm",
    "patient_position",
}
_BLOCK_KEYS = {"polygon_mm", "rect_mm", "transmission"}
_NORM_KEYS = {"point", "depth_mm", "lps_mm", "note"}


def _number(where: str, key: str, value: Any, low: float, high: float, *, integer: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
    ):
        kind = "an integer" if integer else "a number"
        raise PlanError(f"{where}{key} must be {kind}, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise PlanError(f"{where}{key} = {value!r} is outside the sensible range {low:g} to {high:g}")
    return value


def _vector(where: str, key: str, value: Any, n: int, low: float, high: float) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != n:
        raise PlanError(f"{where}{key} must be a list of {n} numbers, got {value!r}")
    return tuple(float(_number(where, f"{key}[{i}]", x, low, high)) for i, x in enumerate(value))


def _check_keys(where: str, table: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PlanError(f"{where}unknown key {prefix + unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _block_from(where: str, key: str, table: Any) -> Block:
    if not isinstance(table, Mapping):
        raise PlanError(f"{where}{key} must be a table with polygon_mm or rect_mm")
    _check_keys(where, table, _BLOCK_KEYS, f"{key}.")
    transmission = float(_number(where, f"{key}.transmission", table.get("transmission", 0.0), 0.0, 1.0))
    if ("polygon_mm" in table) == ("rect_mm" in table):
        raise PlanError(f"{where}{key} needs exactly one of polygon_mm or rect_mm")
    if "rect_mm" in table:
        x1, y1, x2, y2 = _vector(where, f"{key}.rect_mm", table["rect_mm"], 4, -1000, 1000)
        if x1 == x2 or y1 == y2:
            raise PlanError(f"{where}{key}.rect_mm has zero area")
        return Block.rectangle(x1, y1, x2, y2, transmission)
    poly = table["polygon_mm"]
    if not isinstance(poly, list) or len(poly) < 3:
        raise PlanError(f"{where}{key}.polygon_mm must be a list of at least 3 [x, y] points")
    verts = tuple(_vector(where, f"{key}.polygon_mm[{i}]", p, 2, -1000, 1000) for i, p in enumerate(poly))
    return Block(verts, transmission)  # type: ignore[arg-type]


def _beam_from(where: str, number: int, table: Any) -> Beam:
    key = f"beams[{number}]"
    if not isinstance(table, Mapping):
        raise PlanError(f"{where}{key} must be a table ([[beams]])")
    _check_keys(where, table, _BEAM_KEYS, f"{key}.")
    if "energy" not in table:
        raise PlanError(f"{where}{key}.energy is missing (one of {', '.join(ENERGIES)})")
    energy = table["energy"]
    if energy not in ENERGIES:
        raise PlanError(f"{where}{key}.energy = {energy!r} is unknown; use one of {', '.join(ENERGIES)}")
    if "field_mm" not in table:
        raise PlanError(f"{where}{key}.field_mm is missing ([x, y] in mm at the isocentre plane)")
    field_mm = _vector(where, f"{key}.field_mm", table["field_mm"], 2, 0.0, MAX_JAW_MM)
    if min(field_mm) < 5.0:
        raise PlanError(
            f"{where}{key}.field_mm = {list(field_mm)}: a field side of zero (or under 5 mm) gives no dose"
        )
    # the centre of an asymmetric jaw opening; Beam checks where the jaws then lie (reach, over-centre travel)
    offset = _vector(where, f"{key}.field_offset_mm", table.get("field_offset_mm", [0.0, 0.0]), 2, -200, 200)
    ssd = table.get("ssd_mm")
    if ssd is not None:
        ssd = float(_number(where, f"{key}.ssd_mm", ssd, MIN_SSD_MM, MAX_SSD_MM))
    iso = table.get("isocentre_lps_mm")
    if iso is not None:
        iso = _vector(where, f"{key}.isocentre_lps_mm", iso, 3, -5000, 5000)
    blocks_raw = table.get("blocks", [])
    if not isinstance(blocks_raw, list):
        raise PlanError(f"{where}{key}.blocks must be an array of tables ([[beams.blocks]])")
    name = table.get("name", "")
    if not isinstance(name, str):
        raise PlanError(f"{where}{key}.name must be a string")
    position = table.get("patient_position")
    if position is not None and str(position).strip().upper() not in PATIENT_POSITIONS:
        raise PlanError(
            f"{where}{key}.patient_position = {position!r}: use one of {', '.join(PATIENT_POSITIONS)}"
        )
    gantry = float(_number(where, f"{key}.gantry_deg", table.get("gantry_deg", 0.0), -360, 360))
    collimator = float(_number(where, f"{key}.collimator_deg", table.get("collimator_deg", 0.0), -360, 360))
    weight = float(_number(where, f"{key}.weight", table.get("weight", 1.0), 1e-6, 1e6))
    blocks = tuple(_block_from(where, f"{key}.blocks[{i}]", b) for i, b in enumerate(blocks_raw, start=1))
    try:
        return Beam(
            energy=energy,
            gantry_deg=gantry,
            collimator_deg=collimator,
            field_mm=field_mm,  # type: ignore[arg-type]
            ssd_mm=ssd,
            weight=weight,
            blocks=blocks,
            isocentre_lps_mm=iso,  # type: ignore[arg-type]
            name=name,
            patient_position=position,
            field_offset_mm=offset,  # type: ignore[arg-type]
        )
    except PlanError as err:  # asymmetric jaws a linac cannot set: say which file and beam
        raise PlanError(f"{where}{key}: {err}") from None


def plan_from_dict(data: Mapping[str, Any], source: str = "") -> Plan:
    """Build and validate a plan from a parsed TOML document.

    Parameters
    ----------
    data
        The document (keys as in :meth:`Plan.to_toml`).
    source
        File name for error messages.

    Raises
    ------
    PlanError
        Naming the offending key.
    """
    where = f"{source}: " if source else ""
    _check_keys(where, data, _PLAN_KEYS, "")
    for required in ("name", "prescription_gy", "beams"):
        if required not in data:
            raise PlanError(f"{where}{required} is missing")
    if not isinstance(data["name"], str) or not data["name"]:
        raise PlanError(f"{where}name must be a non-empty string")
    dose = data["prescription_gy"]
    if isinstance(dose, (int, float)) and not isinstance(dose, bool) and dose <= 0:
        raise PlanError(f"{where}prescription_gy = {dose!r}: the dose per fraction must be positive")
    dose = _number(where, "prescription_gy", dose, 1e-3, MAX_DOSE_PER_FRACTION_GY)
    fractions = int(_number(where, "fractions", data.get("fractions", 1), 1, MAX_FRACTIONS, integer=True))
    if dose * fractions > MAX_TOTAL_DOSE_GY:
        raise PlanError(
            f"{where}prescription_gy x fractions = {dose * fractions:g} Gy is beyond "
            f"{MAX_TOTAL_DOSE_GY:g} Gy; "
            "prescription_gy is the dose per fraction"
        )
    norm_raw = data.get("normalization", {"point": "midplane"})
    if not isinstance(norm_raw, Mapping):
        raise PlanError(f'{where}normalization must be a table such as {{ point = "midplane" }}')
    _check_keys(where, norm_raw, _NORM_KEYS, "normalization.")
    point = norm_raw.get("point", "midplane")
    note = norm_raw.get("note", "")
    if not isinstance(note, str):
        raise PlanError(f"{where}normalization.note must be a string")
    if point == "depth":
        if "depth_mm" not in norm_raw:
            raise PlanError(f'{where}normalization.depth_mm is needed with point = "depth"')
        norm = Normalization(
            "depth",
            depth_mm=_number(where, "normalization.depth_mm", norm_raw["depth_mm"], 0, 500),
            note=note,
        )
    elif point == "lps":
        if "lps_mm" not in norm_raw:
            raise PlanError(f'{where}normalization.lps_mm is needed with point = "lps"')
        norm = Normalization(
            "lps",
            lps_mm=_vector(where, "normalization.lps_mm", norm_raw["lps_mm"], 3, -5000, 5000),  # type: ignore[arg-type]
            note=note,
        )
    elif point == "midplane":
        norm = Normalization("midplane", note=note)
    else:
        raise PlanError(f"{where}normalization.point = {point!r} is unknown; use midplane, depth or lps")
    heterogeneity = data.get("heterogeneity", True)
    if not isinstance(heterogeneity, bool):
        raise PlanError(f"{where}heterogeneity must be true or false")
    grid = data.get("grid_mm")
    if grid is not None:
        grid = float(_number(where, "grid_mm", grid, 0.5, 20.0))
    beams_raw = data["beams"]
    if not isinstance(beams_raw, list) or not beams_raw:
        raise PlanError(f"{where}beams must hold at least one [[beams]] table")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise PlanError(f"{where}description must be a string")
    compensation = data.get("compensation", "none")
    if compensation not in COMPENSATIONS:
        raise PlanError(
            f"{where}compensation = {compensation!r} is unknown; use one of {', '.join(COMPENSATIONS)}"
        )
    return Plan(
        name=data["name"],
        beams=tuple(_beam_from(where, i, b) for i, b in enumerate(beams_raw, start=1)),
        prescription_gy=float(dose),
        fractions=fractions,
        normalization=norm,
        heterogeneity=heterogeneity,
        grid_mm=grid,
        description=description,
        source=source,
        compensation=compensation,
    )


def load_plan(path: str | os.PathLike[str], ct: CTVolume | None = None) -> Plan:
    """Read a TOML plan file.

    Parameters
    ----------
    path
        The file (keys as written by :meth:`Plan.to_toml`; see the example in the README).
    ct
        If given, the plan is also placed on this CT and checked against it (:func:`resolve_plan`).

    Returns
    -------
    Plan

    Raises
    ------
    MissingInputError
        If the file does not exist.
    PlanError
        Naming the file and the key: unknown key, unknown energy, a dose that is negative or absurd, a zero
        field, a field entirely outside the CT, an SSD that does not fit the patient.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise MissingInputError(f"{name}: plan file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{name}: not valid TOML ({exc})") from exc
    plan = plan_from_dict(data, source=name)
    return resolve_plan(plan, ct) if ct is not None else plan
