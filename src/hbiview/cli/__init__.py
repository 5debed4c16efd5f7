"""The ``hbiview`` command line: a thin adapter over the Python API.

Each sub-command lives in its own module ``hbiview.cli.<name>`` with two functions:
``add_parser(subparsers) -> argparse.ArgumentParser`` (no heavy imports) and ``run(args) -> int``.
:func:`main` turns an :class:`~hbiview.errors.HbiviewError` into one line on stderr and exit code 2, and any
other exception into one line and exit code 1 (set ``HBIVIEW_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Sequence

from hbiview import __version__
from hbiview.errors import HbiviewError, HbiviewWarning

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_OK", "main"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2

#: Sub-commands in the order ``--help`` lists them.
COMMANDS = (
    "demo",
    "info",
    "plans",
    "phantom",
    "structures",
    "dose",
    "systemic",
    "dvh",
    "report",
    "render",
    "view",
    "lessons",
)

DESCRIPTION = """\
hbiview shows in 3D where the dose of hemi-body and large-field palliative radiotherapy goes:
lung and active bone marrow, field by field.

Start with:  hbiview demo            (everything, on the bundled sample patient)
             hbiview info sample_ct  (what is in a CT folder)
"""


def _load_commands() -> dict[str, object]:
    modules = {}
    for name in COMMANDS:
        try:
            modules[name] = importlib.import_module(f"hbiview.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hbiview.cli.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="hbiview",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 success, 2 bad input (yours to fix), 1 internal error (please report).\n"
        "Run 'hbiview COMMAND --help' for the options and an example of each command.",
    )
    parser.add_argument("--version", action="version", version=f"hbiview {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _load_commands().values():
        sub_parser = module.add_parser(sub)  # type: ignore[attr-defined]
        sub_parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
        sub_parser.set_defaults(_run=module.run)  # type: ignore[attr-defined]
    return parser


def _format_warning(message: warnings.WarningMessage) -> str:
    return f"hbiview: warning: {message.message}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Parameters
    ----------
    argv
        Arguments without the program name (default ``sys.argv[1:]``).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_OK
    from hbiview.progress import set_quiet

    set_quiet(args.quiet)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", HbiviewWarning)
            code = int(args._run(args) or EXIT_OK)
        if not args.quiet:
            for message in caught:
                if issubclass(message.category, HbiviewWarning):
                    print(_format_warning(message), file=sys.stderr)
        return code
    except HbiviewError as exc:  # bad input: one line, without the warnings that led up to it
        print(f"hbiview: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("hbiview: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into 'head' or a pager that quit: not an error
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("HBIVIEW_DEBUG"):
            raise
        print(
            f"hbiview: internal error: {type(exc).__name__}: {exc} "
            "(this is a bug; rerun with HBIVIEW_DEBUG=1 and report the traceback)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
