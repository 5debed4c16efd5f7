import numpy as np
import pytest

from hbiview.errors import GeometryError
from hbiview.geometry import Geometry
from hbiview.volume import CTVolume, DoseGrid, Structure, resample_array


def linear_field(geo: Geometry) -> np.ndarray:
    k, j, i = np.indices(geo.shape)
    lps = geo.index_to_lps(np.stack([k, j, i], axis=-1))
    return (2.0 * lps[..., 0] - 3.0 * lps[..., 1] + 0.5 * lps[..., 2]).astype(np.float32)


def test_trilinear_resampling_is_exact_for_a_linear_field():
    # trilinear interpolation reproduces a linear function exactly inside the grid (closed form)
    src = Geometry.from_spacing((20, 20, 20), (2.0, 2.0, 2.0), (0, 0, 0))
    dst = Geometry.from_spacing((7, 9, 8), (3.0, 1.7, 2.3), (5.1, 4.3, 6.2))
    out = resample_array(linear_field(src), src, dst, order=1, fill_value=np.nan)
    assert np.allclose(out, linear_field(dst), atol=1e-3)  # float32 rounding of values ~100


def test_values_are_immutable_and_typed():
    geo = Geometry.from_spacing((2, 3, 4), (1, 1, 1))
    ct = CTVolume(geo, np.zeros(geo.shape, np.float64))
    assert ct.array.dtype == np.float32  # never float64 for HU
    with pytest.raises(ValueError):
        ct.array[0, 0, 0] = 1
    dose = DoseGrid(geo, np.ones(geo.shape), fractions=5)
    assert dose.array.dtype == np.float32
    assert np.allclose(dose.dose_per_fraction_gy, 0.2)
    with pytest.raises(GeometryError):
        CTVolume(geo, np.zeros((1, 1, 1)))


def test_structure_volume_and_resampling():
    geo = Geometry.from_spacing((10, 10, 10), (2.0, 2.0, 2.0))
    mask = np.zeros(geo.shape, bool)
    mask[2:6, 2:6, 2:6] = True
    s = Structure(geo, mask, name="cube", weights=mask * 0.5)
    assert s.volume_cc == pytest.approx(64 * 8 / 1000)
    fine = s.resampled(geo.with_spacing(1.0))
    # a 8 mm cube sampled at voxel centres on a 1 mm grid keeps its volume within one layer of voxels
    assert fine.volume_cc == pytest.approx(0.512, rel=0.4)
    assert fine.weights is not None and fine.weights.max() == pytest.approx(0.5)


def test_resampling_refuses_other_frame_of_reference():
    a = Geometry.from_spacing((2, 2, 2), (1, 1, 1), frame_of_reference_uid="1.2.3")
    b = Geometry.from_spacing((2, 2, 2), (1, 1, 1), frame_of_reference_uid="1.2.4")
    with pytest.raises(GeometryError, match="frames of reference"):
        resample_array(np.zeros(a.shape), a, b)
