"""The round primary collimator in hemi-body presets (issue 19, item 2): closed-form set-ups."""

from __future__ import annotations

import numpy as np
import pytest

from hbiview.geometry import Geometry
from hbiview.plans import MAX_JAW_MM, SAD_MM
from hbiview.plans.setup import _diamond_within_circle, _primary_collimator_warning, _Setup

SSDS = np.arange(1000.0, 2001.0, 50.0)
DEPTH = 60.0  # midplane depth (mm)
RADIUS = 250.0  # primary collimator at 1000 mm (hbiview/data/beam_quality.csv, 10 MV)


def test_a_diamond_is_moved_back_until_the_circle_holds_its_borders() -> None:
    # 1000 mm between the borders, the body 40 mm from the centre line on each side (with its margin):
    # the diamond needs a half-diagonal of 500 + 40 = 540 mm at midplane, side sqrt(2) x 540 = 763.7 mm
    length, offset, half = 1000.0, np.array([0.0, 500.0]), np.array([40.0, 40.0])
    diamond = np.sqrt(2.0) * 540.0
    free = _diamond_within_circle(SSDS, diamond, length, offset, half, DEPTH, 0.0)
    # without a circle: the smallest SSD at which 400 mm jaws hold it, (SSD + 60) >= 763.7 x 1000 / 400:
    # 1850 mm (50 mm steps)
    assert free is not None and (free.ssd_mm, free.collimator_deg) == (1850.0, 45.0)
    held = _diamond_within_circle(SSDS, diamond, length, offset, half, DEPTH, RADIUS)
    # with it: the circle (250 mm at 1000 mm) must reach hypot(500, 40) = 501.6 mm at midplane,
    # (SSD + 60) >= 501.6 x 1000 / 250 = 2006: SSD 1950, the jaws then 763.7 x 1000 / 2010 = 380 mm
    assert held is not None and (held.ssd_mm, held.collimator_deg) == (1950.0, 45.0)
    assert held.jaw_x_mm == pytest.approx(diamond * SAD_MM / 2010.0, abs=1e-9)
    assert held.jaw_x_mm <= MAX_JAW_MM


def test_a_border_the_circle_cannot_reach_is_named() -> None:
    # a 10 mm thin rod, borders 1040 mm apart: the diamond's 400 mm jaws fit (side sqrt(2) x 525 = 742.5 mm
    # at midplane) but no SSD up to 2000 mm brings the circle to 520 mm ((SSD + 60) would be 2080 mm)
    diamond = np.sqrt(2.0) * 525.0
    setup = _diamond_within_circle(
        SSDS, diamond, 1040.0, np.array([0.0, 520.0]), np.array([5.0, 5.0]), DEPTH, RADIUS
    )
    assert setup is not None and (setup.ssd_mm, setup.collimator_deg) == (2000.0, 45.0)  # furthest reach
    geometry = Geometry.box((-100.0, -50.0, -600.0), (100.0, 50.0, 600.0), 5.0)
    z, y, x = geometry.axis_coordinates_mm()
    mask = (np.abs(z) <= 520.0)[:, None, None] & (np.abs(y) <= 30.0)[None, :, None]
    mask = mask & (np.abs(x) <= 5.0)[None, None, :]
    text = _primary_collimator_warning(
        "lower-hbi", setup, RADIUS, DEPTH, geometry, mask, (0.0, 0.0), (-520.0, 520.0)
    )
    assert text is not None
    # the circle at midplane: 250 x 2060 / 1000 = 515 mm; the diamond's tips further (742.5 / 2.06 jaws,
    # tip 742.5 / sqrt2 = 525 mm): the field reaches z -515 to 515 mm, both borders 5 mm beyond it
    assert "515 mm at midplane" in text and "limits the field to 1030 mm" in text
    assert "superior border (z 520 mm) lies 5 mm beyond it" in text
    assert "inferior border (z -520 mm) lies 5 mm beyond it" in text
    # the rod's ends beyond the circle (z 515-520 mm, one 5 mm slice each end) are named as not treated
    assert "of the body outline inside the jaws" in text


def test_a_field_inside_the_circle_gets_no_warning() -> None:
    # collimator 0, 300 x 300 mm jaws at SSD 1000: corners 212 mm from the axis at 1000 mm, inside 250 mm
    setup = _Setup(1000.0, 300.0, 300.0, 0.0)
    geometry = Geometry.box((-300.0, -50.0, -300.0), (300.0, 50.0, 300.0), 5.0)
    mask = np.ones(geometry.shape, dtype=bool)
    text = _primary_collimator_warning(
        "upper-hbi", setup, RADIUS, 0.0, geometry, mask, (0.0, 0.0), (-150.0, 150.0)
    )
    assert text is None
    # the same jaws at 400 x 400 mm: the corners (283 mm) lie outside the circle, and the body fills them
    wide = _Setup(1000.0, 400.0, 400.0, 0.0)
    text = _primary_collimator_warning(
        "upper-hbi", wide, RADIUS, 0.0, geometry, mask, (0.0, 0.0), (-200.0, 200.0)
    )
    assert text is not None and "of the body outline inside the jaws" in text
    assert "beyond it" not in text  # the borders, 200 mm from the centre on the axis, are reached
