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
    "serve",
    "batch",
    "lessons",
)

DESCRIPTION = """\
hbiview shows in 3D where the dose of hemi-body and large-field palliative radiotherapy goes:
lung and active bone marrow, field by field.

Start with:  hbiview demo            (everything, on the bundled sample patient)
             hbiview info sample_ct  (what is in a CT folder)
"""


def _load_commands() -> dict[str, object]:
    modules: dict[str, object] = {}
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


#: What a user may type for the CT to mean the bundled sample patient wherever hbiview is installed.
SAMPLE_NAMES = ("sample_ct", "sample_ct/")


def _resolve_sample_ct(args: argparse.Namespace) -> None:
    """Let ``sample_ct`` name the bundled sample patient when there is no such folder here.

    ``hbiview info sample_ct`` (the first example ``--help`` gives) then works from any folder after
    ``pip install``, not only in a checkout. A real ``./sample_ct`` folder always wins.
    """
    from pathlib import Path

    for attribute in ("ct", "path"):
        value = getattr(args, attribute, None)
        if isinstance(value, str) and value in SAMPLE_NAMES and not Path(value).exists():
            from hbiview.pipeline import find_sample_ct

            bundled = find_sample_ct()
            if bundled is not None:
                setattr(args, attribute, str(bundled))


def _format_warning(message: warnings.WarningMessage) -> str:
    return f"hbiview: warning: {message.message}"


def _report_warnings(caught: Sequence[warnings.WarningMessage], *, quiet: bool) -> None:
    """Print hbiview's warnings as one line each; hand the others back to Python's warning filters.

    Warnings of other libraries are not hbiview's to judge: they are re-issued as they came, so that the
    interpreter's filters (``-W``, ``PYTHONWARNINGS``) decide about them as they would without hbiview.
    """
    for message in caught:
        if issubclass(message.category, HbiviewWarning):
            if not quiet:
                print(_format_warning(message), file=sys.stderr)
        else:
            warnings.warn_explicit(
                message.message, message.category, message.filename, message.lineno, source=message.source
            )


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
        _resolve_sample_ct(args)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", HbiviewWarning)
            code = int(args._run(args) or EXIT_OK)
        _report_warnings(caught, quiet=args.quiet)
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
