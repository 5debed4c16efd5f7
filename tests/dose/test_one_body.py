"""One body: plans and dose use the anatomy's Body, so a couch is not patient (issue 19.4, issue 11.9).

The synthetic patient's pelvis (z 850-1150 mm) is built twice, lying on a CT couch top (no air gap: carbon
fibre shells around a foam core, 55 mm thick) and without it. Everything that depends on the outline must
then agree: the posterior skin on the central axis, the midplane prescription point, the body the dose is
computed in.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from hbiview.dose import compute_dose_result
from hbiview.dose.body import axis_crossing, body_of
from hbiview.pipeline import Case
from hbiview.plans import Beam, Normalization, Plan
from hbiview.sample import make_phantom

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow

AXIS_POINT = np.array([0.0, 0.0, 1000.0])
AP = np.array([0.0, 1.0, 0.0])


@lru_cache(maxsize=2)
def _phantom(couch: bool):
    return make_phantom(couch=couch, couch_gap_mm=0.0, z_range_mm=(850.0, 1150.0))


def _plan() -> Plan:
    beams = tuple(Beam("10MV", g, 0.0, (200.0, 200.0), name=n) for g, n in ((0.0, "AP"), (180.0, "PA")))
    return Plan("appa", beams, 2.0, 1, Normalization("midplane"), True, 5.0)


def test_a_couch_the_patient_lies_on_is_not_skin_nor_body() -> None:
    results = {}
    for couch in (False, True):
        case = Case(_phantom(couch).ct, "pelvis phantom")
        plan = case.plan(_plan())  # places the plan on the case's body (no couch)
        assert body_of(case.ct) is case.body
        crossing = axis_crossing(case.ct, AXIS_POINT, AP)
        assert crossing is not None
        result = compute_dose_result(case.ct, plan)
        results[couch] = (crossing, result, case)
    (front0, back0), plain, _ = results[False]
    (front1, back1), couched, case = results[True]
    # skin on the central axis (AP line at z 1000 mm): the anterior skin the same within 0.1 mm (the -500 HU
    # crossing to 0.05 mm); the posterior skin within one CT voxel (3.5 mm; measured 3.5 mm): the couch's
    # upper carbon-fibre shell, one voxel at 250 HU in contact with the back, cannot be told from skin by
    # the anatomy's outline (a 5 mm opening), the other 52 mm of the couch top are cut away. Without the
    # anatomy's body the couch's underside, 56 mm further back, was the skin (next test).
    assert front1 == pytest.approx(front0, abs=0.1)
    assert back1 == pytest.approx(back0, abs=4.0)
    # the midplane point within half of that (measured 1.8 mm), the isocentre (centre of the body on the 5 mm
    # grid of plan geometry) within half a 5 mm voxel (measured 2.5 mm)
    assert np.allclose(couched.prescription_point_lps_mm, plain.prescription_point_lps_mm, atol=2.0)
    assert np.allclose(couched.plan.beams[0].isocentre_lps_mm, plain.plan.beams[0].isocentre_lps_mm, atol=2.5)
    # the body the dose was computed in has the same volume (within 1 %: noise at the skin), and the couch
    # gets no dose: the dose grid's body excludes it like the Body structure of the DVHs
    assert couched.model.body.sum() == pytest.approx(plain.model.body.sum(), rel=0.01)
    couch_point = np.array([[0.0, back0 + 25.0, 1000.0]])  # 25 mm behind the skin, inside the couch top
    idx = np.rint(couched.dose.geometry.lps_to_index(couch_point)[0]).astype(int)
    in_grid = bool(np.all((idx >= 0) & (idx < np.asarray(couched.dose.geometry.shape))))
    assert not in_grid or couched.dose.array[tuple(idx)] == 0.0  # the grid is built around the body
    assert not case.body.mask[tuple(np.rint(case.ct.geometry.lps_to_index(couch_point)[0]).astype(int))]
    # and the midplane dose itself agrees within 1 % (the same patient, the same fields)
    assert couched.prescription_dose_gy == pytest.approx(plain.prescription_dose_gy, rel=0.01)


def test_without_the_anatomy_body_the_couch_counts_as_patient() -> None:
    """Why the body is handed down: the dose module's own threshold outline takes in a touching couch."""
    ct = make_phantom(couch=True, couch_gap_mm=0.0, z_range_mm=(850.0, 1150.0)).ct  # a new CT, no body given
    assert body_of(ct) is None
    crossing = axis_crossing(ct, AXIS_POINT, AP)
    plain = axis_crossing(_phantom(False).ct, AXIS_POINT, AP)
    assert crossing is not None and plain is not None
    # the couch top (about 55 mm thick at the midline) is taken for the patient's back: measured 56 mm
    assert crossing[1] - plain[1] > 40.0
