"""The envelope every ``--json`` output of the command line shares.

Every ``hbiview COMMAND ... --json`` prints one JSON object::

    {
      "hbiview_version": "0.x.y",     # the version that wrote it
      "schema_version": 1,            # bumped when a documented key changes meaning or goes away
      "command": "dvh",               # the sub-command
      "inputs": {...},                # the options the command ran with (files, plans, settings)
      ...                             # the command's own keys (documented in docs/json.md)
    }

Commands whose result is a list put it under a named key (``presets``, ``lessons``). NaN is written as
``null``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["SCHEMA_VERSION", "envelope", "inputs_of", "print_json"]

#: Version of the layout of the JSON documents (the envelope and each command's documented keys).
SCHEMA_VERSION = 1

#: Namespace attributes that are not inputs (how the output is printed, argparse's own).
_NOT_INPUTS = {"json", "quiet", "command", "force"}


def _plain(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _plain(value.tolist())
    return str(value)


def inputs_of(args: argparse.Namespace) -> dict[str, Any]:
    """The options a command ran with, as JSON values (private and output-only options left out)."""
    return {
        key: _plain(value)
        for key, value in sorted(vars(args).items())
        if not key.startswith("_") and key not in _NOT_INPUTS and not callable(value)
    }


def envelope(command: str, inputs: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON document: the envelope keys, then the command's own ``payload`` keys."""
    from hbiview import __version__

    document: dict[str, Any] = {
        "hbiview_version": __version__,
        "schema_version": SCHEMA_VERSION,
        "command": command,
        "inputs": dict(inputs),
    }
    for key, value in payload.items():
        if key not in document:
            document[key] = value
    return document


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def print_json(args: argparse.Namespace, payload: Mapping[str, Any]) -> None:
    """Print ``payload`` inside the envelope (command and inputs taken from ``args``) on stdout."""
    command = str(getattr(args, "command", "") or "")
    document = _finite(envelope(command, inputs_of(args), payload))
    json.dump(document, sys.stdout, indent=2, allow_nan=False, default=_plain)
    sys.stdout.write("\n")
