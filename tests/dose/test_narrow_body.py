"""Narrow body parts (issue 19.3): no photon scatter from pencils that pass beside the body.

A 400 x 400 mm field on a water column only 100 or 50 mm wide (and 500 mm long) scatters only from the
column: on its axis it must give what a 100 x 400 or 50 x 400 mm field gives in a wide phantom. The measured
phantom-scatter factors of the 10 MV machine (``shared/reference/measured_10MV/measurements_10_of_sp.json``,
read through ``reference_dir``) give that ratio directly: Sp(50 x 400) / Sp(400 x 400), and for 100 x 400 the
Sp of its equivalent square (2ab / (a + b) = 160 mm, interpolated between the measured 150 and 200 mm).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from hbiview.dose import plan_dose_model
from hbiview.plans import Beam, Normalization, Plan
from hbiview.sample import water_phantom

DEPTH_MM = 100.0  # the usual reference depth of phantom-scatter factors


@lru_cache(maxsize=4)
def _axis_dose(width_mm: float) -> float:
    ct = water_phantom((width_mm, 300, 500), 5.0)
    beam = Beam("10MV", 0.0, 0.0, (400.0, 400.0), ssd_mm=1000.0, isocentre_lps_mm=(0.0, -150.0, 0.0))
    plan = Plan("narrow", (beam,), 1.0, 1, Normalization("depth", depth_mm=DEPTH_MM), False, 5.0)
    model = plan_dose_model(ct, plan, grid_mm=5.0)
    return float(model.beams[0].at(np.array([[0.0, -150.0 + DEPTH_MM, 0.0]]))[0])


@pytest.mark.slow
@pytest.mark.parametrize("width_mm", [100.0, 50.0])
def test_narrow_water_column_matches_measured_phantom_scatter(reference_dir: Path, width_mm: float) -> None:
    with open(reference_dir / "measured_10MV" / "measurements_10_of_sp.json") as handle:
        sp = {(r["field_x_mm"], r["field_y_mm"]): r["sp"] for r in json.load(handle)}
    if width_mm == 50.0:
        narrow = sp[(50.0, 400.0)]
    else:
        equivalent = 2 * width_mm * 400.0 / (width_mm + 400.0)
        narrow = float(np.interp(equivalent, [150.0, 200.0], [sp[(150.0, 150.0)], sp[(200.0, 200.0)]]))
    expected = narrow / sp[(400.0, 400.0)]  # 0.946 (100 mm), 0.897 (50 mm)
    ratio = _axis_dose(width_mm) / _axis_dose(500.0)
    # issue 19.3: the 3-8 % (here 5 and 10 %) less dose of narrow parts. Within 1.5 % of the measured Sp
    # ratio (the equivalent-square rule itself is good to about 1 %, and Sp's reference depth is not stated
    # with the data). Measured: 0.943 / 0.907 against 0.946 / 0.897. Before the missing-tissue correction
    # the engine gave 1.000 for both (every pencil of the field scattered, tissue or not).
    assert ratio == pytest.approx(expected, abs=0.015), (width_mm, ratio, expected)
