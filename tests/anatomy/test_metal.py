"""Metal implants: found, kept out of the active marrow, and said (a real CT with a femoral implant)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from realdata import data_dir, icrp, real_ct

from hbiview.anatomy import segment
from hbiview.anatomy.tissues import METAL_HU, metal_implants

SPACING = (2.0, 2.0, 2.0)  # mm: 8 mm3 voxels, 125 to the cm3


def test_metal_pieces_of_a_cubic_centimetre_are_found_teeth_and_fillings_are_not() -> None:
    hu = np.zeros((40, 40, 40), dtype=np.float32)
    body = np.ones(hu.shape, dtype=bool)
    hu[2:7, 2:7, 2:12] = 3071.0  # 250 voxels = 2.0 cm3 saturated: a stem
    hu[20:24, 20:24, 20:24] = 3071.0  # 64 voxels = 0.51 cm3: a filling, not worth a warning
    hu[30:35, 30:35, 2:12] = METAL_HU - 100.0  # 2.0 cm3 of enamel-like 2900 HU: not metal
    metal, volume_cc = metal_implants(hu, body, SPACING)
    assert volume_cc == pytest.approx(2.0, abs=1e-9)
    assert np.count_nonzero(metal) == 250 and metal[4, 4, 6] and not metal[21, 21, 21]
    # outside the body (a couch's screws) nothing counts
    assert metal_implants(hu, np.zeros_like(body), SPACING)[1] == 0.0


@pytest.mark.slow
def test_the_real_cts_femoral_implant_is_said_and_holds_no_marrow(shared_dir) -> None:
    case = real_ct(data_dir(shared_dir, "real_ct") / "totalsegmentator_abdomen")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anatomy = segment(case.ct)
    said = [str(w.message) for w in caught if "metal in the CT" in str(w.message)]
    assert len(said) == 1, said
    # the implant lies in the proximal femur, from the scan's lowest slice (z 94 mm) to the femoral head
    # centres (130 mm on TotalSegmentator's labels): 7 cm3 at 3000-3382 HU
    assert "7 cm3 at or above 3000 HU at z 94 to 130 mm" in said[0]
    hu = np.asarray(case.ct.array)
    metal, _ = metal_implants(hu, anatomy.structures["Body"].array, tuple(case.ct.geometry.spacing_mm))
    marrow = anatomy.structures["Marrow"].array
    assert not np.any(marrow & metal)
    # the implant stays in the skeleton (the bone picture shows it): only the marrow leaves it out
    assert np.count_nonzero(anatomy.structures["Skeleton"].array & metal) == np.count_nonzero(metal)


@pytest.mark.slow
def test_the_reference_phantoms_teeth_are_not_metal(shared_dir) -> None:
    case = icrp(data_dir(shared_dir, "icrp110_adult_female"))
    hu = np.asarray(case.ct.array)
    # the ICRP 110 phantom's teeth reach 2917 HU (density 2.75 g/cm3): below METAL_HU, no warning
    assert 2500.0 < hu.max() < METAL_HU
    assert metal_implants(hu, hu > -400, tuple(case.ct.geometry.spacing_mm))[1] == 0.0
