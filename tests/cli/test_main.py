import subprocess
import sys

import hbiview
from hbiview.cli import main


def test_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert hbiview.__version__ in capsys.readouterr().out


def test_help_lists_commands_and_is_light():
    # --help must not import pydicom or pyvista (DESIGN: heavy imports stay at the edges)
    code = (
        "import sys\nfrom hbiview.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('pydicom' in sys.modules, 'pyvista' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False False")
    assert "hbiview" in out


def test_public_names_stay_functions_after_submodules_load():
    # a submodule named like a public function would replace it on the package once imported
    # (hbiview.dvh was the DVH module and shadowed hbiview.dvh(dose, structure))
    import hbiview.pipeline  # imports the DVH, dose and anatomy modules

    for name in ("dvh", "dvhs", "segment", "compute_dose", "read_ct", "preset", "eqd2"):
        assert callable(getattr(hbiview, name)), name


def test_warnings_of_other_libraries_are_not_dropped(monkeypatch, capsys):
    import warnings

    import pytest

    from hbiview.cli import info
    from hbiview.errors import HbiviewWarning

    def run(args):
        warnings.warn("a dependency's own warning", UserWarning, stacklevel=1)
        warnings.warn("irregular but readable input", HbiviewWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(info, "run", run)
    with pytest.warns(UserWarning, match="a dependency's own warning") as caught:
        assert main(["info", "somewhere"]) == 0
    # hbiview's own warning: one line on stderr, not a Python warning
    assert capsys.readouterr().err.strip() == "hbiview: warning: irregular but readable input"
    assert not [w for w in caught if issubclass(w.category, HbiviewWarning)]
