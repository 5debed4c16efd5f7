"""Placing a plan on a CT (``plans.resolve_plan``): a placed plan is not placed again, and the check that a
field meets the body sees a field that meets only a few of the body's outline points."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hbiview.errors import PlanError
from hbiview.plans import Beam, Normalization, Plan, resolve_plan
from hbiview.sample import water_phantom


@pytest.fixture(scope="module")
def phantom():
    # 400 mm wide (x from -200 to 200 mm), 300 mm thick, 480 mm long, centred on the origin
    return water_phantom(size_mm=(400, 300, 480), spacing_mm=5.0)


def _ap(field_mm: tuple[float, float], isocentre=None) -> Plan:
    beam = Beam("10MV", 0.0, 0.0, field_mm, isocentre_lps_mm=isocentre, name="AP")
    return Plan("ap", (beam,), 2.0, 1, Normalization("midplane"), True, 5.0)


def test_a_placed_plan_is_returned_as_it_is_on_its_ct_and_checked_again_on_another(phantom):
    placed = resolve_plan(_ap((200.0, 200.0)), phantom)
    assert resolve_plan(placed, phantom) is placed
    # an equal plan that is not the one placed is placed again, to an equal plan
    again = resolve_plan(replace(placed), phantom)
    assert again is not placed
    assert again == placed
    # on another CT the checks run again: a field grazing the left side (x = 200 mm) of this phantom
    # misses a phantom 300 mm wide (x up to 150 mm, its CT to 180 mm)
    grazing = resolve_plan(_ap((20.0, 20.0), (208.0, 0.0, 3.0)), phantom)
    narrow = water_phantom(size_mm=(300, 300, 480), spacing_mm=5.0)
    with pytest.raises(PlanError, match="entirely outside the CT"):
        resolve_plan(grazing, narrow)


def test_a_field_meeting_only_a_few_outline_points_meets_the_body(phantom):
    # a 20 x 20 mm field centred at x = 208 mm grazes the body's left side (it ends at x = 200 mm): about
    # 100 of its 35 544 outline voxels lie in the field, none of the every-64th the check looks at first
    resolve_plan(_ap((20.0, 20.0), (208.0, 0.0, 3.0)), phantom)
    # 4 mm further out the field misses the body (the field's edge at the skin: 212 - 10 x 850 / 1000 mm)
    with pytest.raises(PlanError, match="entirely outside the body"):
        resolve_plan(_ap((20.0, 20.0), (212.0, 0.0, 3.0)), phantom)
