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
