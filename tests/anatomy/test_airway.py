"""The trachea is not lung even when its lumen is not pure air (coarse real CTs, issue 11.5)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hbiview.anatomy import segment
from hbiview.volume import CTVolume

# these tests take seconds, or share a fixture (or cached run) that does: measured with --durations
pytestmark = pytest.mark.slow


def test_partial_volume_trachea_is_not_lung(phantom):
    # on a 4.4 mm real CT the tracheal lumen mixes with its wall and reads about -850 HU, like lung
    # parenchyma; the sample patient's airway (label 6) is given that value
    hu = np.asarray(phantom.ct.array, dtype=np.float32).copy()
    airway = phantom.labels == 6
    hu[airway] = -850.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = segment(CTVolume(phantom.geometry, hu))
    lungs = result.structures["Lungs"].mask
    z = phantom.geometry.axis_coordinates_mm()[0]
    widest = z[np.argmax(lungs.sum(axis=(1, 2)))]
    trachea = airway & (z > widest + 5.0)[:, None, None]
    # the trachea above the hilum: at most its rim voxels touching the apices (5 %) in the lungs
    assert np.count_nonzero(lungs & trachea) <= 0.05 * np.count_nonzero(trachea)
    # the apex is the lungs' top, not the larynx: one slice plus 10 mm (the landmark goal)
    apex = result.landmarks.z("lung_apex")
    assert apex is not None
    assert abs(apex - phantom.landmarks_mm["lung_apex"]) <= phantom.geometry.spacing_mm[0] + 10.0
