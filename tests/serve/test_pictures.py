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


# --- the painter's fast paths against the general computation they replace -------------------------------


def _patient_like():
    """A CT with structure (HU varying in every direction) and a dose blob on a coarser, offset grid.

    The dose grid covers only part of the CT (pixels outside it take 0 Gy) and runs feet-first (z
    decreasing with the slice index), so every branch of the sampling is used.
    """
    geometry = Geometry.box((-120.0, -90.0, -150.0), (120.0, 90.0, 150.0), (5.0, 3.0, 3.0))
    z, y, x = np.meshgrid(*geometry.axis_coordinates_mm(), indexing="ij")
    hu = (400.0 * np.sin(x / 17.0) * np.cos(y / 23.0) + 300.0 * np.sin(z / 31.0) - 200.0).astype(np.float32)
    body = Structure(geometry, (x / 110.0) ** 2 + (y / 80.0) ** 2 <= 1.0, name="Body")
    lungs = Structure(
        geometry, ((np.abs(x) - 50.0) / 35.0) ** 2 + (y / 40.0) ** 2 + (z / 90.0) ** 2 <= 1.0, name="Lungs"
    )
    feet_first = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    dose_geometry = Geometry.from_spacing((48, 30, 37), (5.0, 5.0, 5.0), (-92.5, -71.0, 117.5), feet_first)
    lps = dose_geometry.index_to_lps(np.stack(np.indices(dose_geometry.shape), axis=-1))
    dx, dy, dz = lps[..., 0], lps[..., 1], lps[..., 2]
    dose = 9.0 * np.exp(-((dx - 10.0) ** 2 / 4000.0 + (dy + 5.0) ** 2 / 2500.0 + dz**2 / 9000.0))
    return CTVolume(geometry, hu), [body, lungs], DoseGrid(dose_geometry, dose.astype(np.float32))


def _line_colour(pct):
    return (np.asarray(isodose_color(pct)) * 255 + 0.5).astype(np.uint8)


_SLICES = [("axial", 12.5), ("axial", -60.0), ("coronal", 0.0), ("coronal", 20.0), ("sagittal", -8.0)]


@pytest.mark.parametrize(("view", "position_mm"), _SLICES)
def test_separable_sampling_equals_trilinear_interpolation(view, position_mm):
    from scipy import ndimage

    from hbiview.render.planes import make_plane
    from hbiview.serve.pictures import _separable_sample

    ct, _structures, dose = _patient_like()
    plane = make_plane(ct.geometry, view, position_mm, pixel_mm=2.5)
    fast = _separable_sample(np.asarray(dose.dose_gy), dose.geometry, plane)
    index = dose.geometry.lps_to_index(plane.points_lps.reshape(-1, 3)).T.astype(np.float32)
    reference = ndimage.map_coordinates(
        np.asarray(dose.dose_gy), index, order=1, mode="constant", cval=0.0, prefilter=False
    ).reshape(fast.shape)
    # the same trilinear interpolation summed in another order: equal to float32 rounding (9 Gy * 1e-6)
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-5)
    assert (reference == 0).any() and (reference > 1.0).any()  # the slice has pixels outside and inside


def test_separable_sampling_declines_an_oblique_grid():
    from hbiview.render.planes import make_plane
    from hbiview.serve.pictures import _separable_sample

    ct, _structures, dose = _patient_like()
    turn = np.radians(1.0)
    oblique = np.array(
        [[0.0, -np.sin(turn), np.cos(turn)], [0.0, np.cos(turn), np.sin(turn)], [1.0, 0.0, 0.0]]
    )
    geometry = Geometry.from_spacing(dose.geometry.shape, (5.0, 5.0, 5.0), (-92.5, -71.0, -117.5), oblique)
    plane = make_plane(ct.geometry, "axial", 0.0)
    # one degree of rotation: a pixel's index along x depends on y too, so no separable sampling
    assert _separable_sample(np.asarray(dose.dose_gy), geometry, plane) is None


@pytest.mark.parametrize("window", ["soft", "lung"])
@pytest.mark.parametrize(("view", "position_mm"), _SLICES)
def test_painter_pixels_equal_the_colourwash_and_outline_reference(view, position_mm, window):
    """The painter's picture, byte for byte, against colourwash_rgb, trilinear sampling and erosion edges."""
    from scipy import ndimage

    from hbiview.render.colors import colourwash_rgb, dose_cmap, dose_range_gy
    from hbiview.render.planes import make_plane, sample_on_plane
    from hbiview.serve.pictures import SlicePainter

    ct, structures, dose = _patient_like()
    reference_gy = 7.0
    levels = (50.0, 80.0, 95.0, 105.0)
    painter = SlicePainter(ct, structures)
    painter.rgb(view, position_mm, dose=DoseGrid(dose.geometry, dose.array * 0.8), reference_gy=reference_gy)
    fast = painter.rgb(view, position_mm, dose=dose, reference_gy=reference_gy, window=window)  # kept CT

    # the picture as the renderer's own functions make it, step by step
    def edge(mask):
        return mask & ~ndimage.binary_erosion(mask, border_value=1)

    plane = make_plane(ct.geometry, view, position_mm, pixel_mm=2.5)
    hu = sample_on_plane(ct.hu, ct.geometry, plane, order=1, fill=-1000.0)
    gy = sample_on_plane(dose.dose_gy, dose.geometry, plane, order=1, fill=0.0)
    clim = dose_range_gy(reference_gy, dose.max_gy, 20.0)
    cmap = dose_cmap(100 * clim[0] / reference_gy, 100 * clim[1] / reference_gy)
    expected = colourwash_rgb(hu, window, gy, cmap, clim, reference_gy * 0.2, alpha=0.55)
    for structure, colour in ((structures[0], (245, 205, 175)), (structures[1], (200, 236, 255))):
        inside = sample_on_plane(structure.mask.astype(np.float32), structure.geometry, plane, order=0) > 0.5
        expected[edge(inside)] = colour
    for pct in levels:
        expected[edge(gy >= reference_gy * pct / 100.0)] = _line_colour(pct)
    assert (expected[..., 0] != expected[..., 1]).sum() > 100  # the slice does show a colourwash
    # two levels at least have a line: the test checks the lines' order where they meet, not only the wash
    drawn = [pct for pct in levels if np.all(expected == _line_colour(pct), axis=-1).any()]
    assert len(drawn) >= 2, drawn
    # the dose is sampled in another order of sums (float32 rounding, 1e-6 Gy): a pixel within that of a
    # threshold could flip; on these slices none does, so the bytes are equal
    assert np.array_equal(fast, expected)


def test_png_bytes_decode_to_the_same_pixels_at_any_size():
    from PIL import Image

    from hbiview.serve.pictures import png_bytes

    rng = np.random.default_rng(7)
    for shape in ((1, 1, 3), (3, 700, 3), (233, 97, 3)):
        rgb = rng.integers(0, 256, size=shape, dtype=np.uint8)
        back = np.asarray(Image.open(io.BytesIO(png_bytes(rgb))).convert("RGB"))
        assert np.array_equal(back, rgb)  # PNG is lossless, whatever Pillow's own decoder reads


@pytest.mark.parametrize(
    ("view", "position_mm"), [("axial", 12.5), ("coronal", 1.5), ("sagittal", -52.5), ("axial", 160.0)]
)
def test_separable_nearest_and_filled_samples_equal_sample_on_plane(view, position_mm):
    """The CT and the outlines' masks, as the painter samples them, against the general sampling."""
    from hbiview.render.planes import make_plane, sample_on_plane
    from hbiview.serve.pictures import _separable_sample

    ct, structures, _dose = _patient_like()
    # 1.5 mm pixels on 3 mm voxels: every other pixel centre lies half-way between two voxels, where
    # nearest-neighbour sampling must round as SciPy does (up); the plane spans 21 mm more than the CT
    # on every side (the fill around it), and at z = 160 mm it misses the CT (z up to 150 mm) altogether
    wider = Geometry.box((-141.0, -111.0, -171.0), (141.0, 111.0, 171.0), 3.0)
    plane = make_plane(wider, view, position_mm, pixel_mm=1.5)
    mask = structures[1].mask
    nearest = _separable_sample(np.asarray(mask), ct.geometry, plane, order=0, float32_index=False)
    expected = sample_on_plane(mask.astype(np.float32), ct.geometry, plane, order=0) > 0.5
    assert nearest.dtype == bool and np.array_equal(nearest, expected)
    assert expected.any() == (position_mm != 160.0) and not expected.all()
    hu = _separable_sample(np.asarray(ct.hu), ct.geometry, plane, order=1, fill=-1000.0, float32_index=False)
    reference = sample_on_plane(ct.hu, ct.geometry, plane, order=1, fill=-1000.0)
    # float32 HU summed in another order: equal to float32 rounding (1000 HU * 1e-7, with margin)
    np.testing.assert_allclose(hu, reference, rtol=0, atol=1e-3)
    assert (reference == -1000.0).any()  # pixels off the CT take the fill
