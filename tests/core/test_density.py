import numpy as np
import pytest

from hbiview.density import HuDensityTable, default_table, density_to_hu, hu_to_density
from hbiview.errors import InputError


def test_default_table_values():
    # matRad photon default table (BSD-3): 0 HU -> 1.0, 100 HU -> 1.095, 350 HU -> 1.199, clamped at -1024
    assert hu_to_density([0, 100, 350]) == pytest.approx([1.0, 1.095, 1.199], abs=1e-6)
    assert hu_to_density(-3000) == pytest.approx(0.001)
    assert "matRad" in default_table().source


def test_inverse_round_trip():
    rho = np.array([0.05, 0.25, 0.5, 0.95, 1.0, 1.5])
    assert hu_to_density(density_to_hu(rho)) == pytest.approx(rho, rel=1e-5)


def test_user_table(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("# my scanner\nhu,density\n-1000,0\n0,1\n1000,2\n")
    table = HuDensityTable.from_csv(path)
    assert table.density(500) == pytest.approx(1.5)
    bad = tmp_path / "bad.csv"
    bad.write_text("hu,density\n0,1\n-10,0.9\n")
    with pytest.raises(InputError, match=r"bad\.csv"):
        HuDensityTable.from_csv(bad)
