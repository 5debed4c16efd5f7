"""Slice pictures and the DVH chart of the web page, on a box with a dose known everywhere."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from hbiview.geometry import Geometry
from hbiview.render.style import isodose_color
from hbiview.serve.model import DvhCurve
from hbiview.serve.pictures import difference_rgb, dvh_svg, png_data_url, slice_rgb
from hbiview.volume import CTVolume, DoseGrid, Structure

#: dose rises linearly with z from 0 Gy at z = -100 mm to 10 Gy at z = +100 mm; prescription 8 Gy
RX_GY = 8.0


def _box():
    geometry = Geometry.box((-100.0, -100.0, -100.0), (100.0, 100.0, 100.0), 5.0)
    z = geometry.axis_coordinates_mm()[0]
    hu = np.zeros(geometry.shape, dtype=np.float32)
    dose = np.broadcast_to((10.0 * (z + 100.0) / 200.0)[:, None, None], geometry.shape).astype(np.float32)
    return CTVolume(geometry, hu), DoseGrid(geometry, dose.copy()), geometry


def _row_of_z(rgb_rows: int, z_mm: float) -> int:
    # coronal pictures run from the head (row 0, z = +100) to the feet (last row, z = -100), 5 mm pixels
    return round((100.0 - z_mm) / 5.0)


def test_isodose_lines_lie_where_the_linear_dose_crosses_each_level():
    ct, dose, _ = _box()
    rgb = slice_rgb(ct, "coronal", 0.0, dose=dose, reference_gy=RX_GY, isodose_pct=(50.0,), pixel_mm=5.0)
    colour = (np.asarray(isodose_color(50.0)) * 255 + 0.5).astype(np.uint8)
    rows = np.unique(np.nonzero(np.all(rgb == colour, axis=-1))[0])
    # 50 % of 8 Gy = 4 Gy at z = -20 mm (dose = 10 (z + 100) / 200): the line is the first row at or above
    # 4 Gy seen from the feet, i.e. the row of z = -20 mm (exact on this grid: 5 mm pixels on 5 mm voxels)
    assert rows.tolist() == [_row_of_z(rgb.shape[0], -20.0)]


def test_colourwash_only_above_the_threshold():
    ct, dose, _ = _box()
    rgb = slice_rgb(ct, "coronal", 0.0, dose=dose, reference_gy=RX_GY, isodose_pct=(), pixel_mm=5.0)
    grey = rgb[..., 0] == rgb[..., 1]
    # threshold 20 % of 8 Gy = 1.6 Gy, reached at z = -68 mm: rows below it (feet) are plain grey CT,
    # rows above it coloured; 2 rows of margin either side for the linear interpolation of the picture
    assert grey[_row_of_z(rgb.shape[0], -80.0) :].all()
    assert not grey[: _row_of_z(rgb.shape[0], -60.0)].any()


def test_structure_outline_follows_the_mask():
    ct, _dose, geometry = _box()
    z, _y, x = np.meshgrid(*geometry.axis_coordinates_mm(), indexing="ij")
    body = Structure(geometry, (np.abs(x) <= 50) & (np.abs(z) <= 50), name="Body")
    rgb = slice_rgb(ct, "coronal", 0.0, structures=[body], pixel_mm=5.0)
    outline = np.all(rgb == (245, 205, 175), axis=-1)
    rows, columns = np.nonzero(outline)
    # the mask spans x and z from -50 to +50 mm: 21 pixels of 5 mm, its edge is the ring around them
    assert (rows.max() - rows.min() + 1, columns.max() - columns.min() + 1) == (21, 21)
    assert outline.sum() == 4 * 21 - 4


def test_difference_is_symmetric_and_zero_shows_plain_ct():
    ct, dose, _ = _box()
    _rgb_ab, limit_ab = difference_rgb(ct, "axial", 0.0, dose, DoseGrid(dose.geometry, dose.array * 0.5))
    # at z = 0 the dose is 5 Gy: A - B = 2.5 Gy everywhere on the slice, the largest difference
    assert limit_ab == pytest.approx(2.5, rel=1e-6)  # float32 dose: 1e-6 relative
    rgb_same, _ = difference_rgb(ct, "axial", 0.0, dose, dose)
    assert np.all(rgb_same[..., 0] == rgb_same[..., 1])  # no difference: the grey CT only


def test_png_data_url_round_trips():
    from PIL import Image

    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[1, 2] = (10, 200, 30)
    url = png_data_url(rgb)
    assert url.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert np.array_equal(back, rgb)  # PNG is lossless


def test_dvh_chart_places_curve_points_on_its_axes():
    curve = DvhCurve("Lungs", np.array([0.0, 5.0, 10.0]), np.array([100.0, 50.0, 0.0]))
    svg = dvh_svg([("Lungs", curve), ("Lungs (B)", curve)], width=460, height=260, dose_max_gy=10.0)
    # plot area: x from 48 to 448 px (10 Gy), y from 10 (100 %) to 224 px (0 %)
    assert 'points="48.0,10.0 248.0,117.0 448.0,224.0"' in svg
    assert svg.count("<polyline") == 2 and 'stroke-dasharray="6,4"' in svg  # B dashed
