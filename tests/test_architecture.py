"""The layers' promises, read from the source (tools/import_cycles.py walks every import, lazy ones too)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "import_cycles.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_cycles", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_cycles", module)
    spec.loader.exec_module(module)
    return module


def _reach(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


@pytest.mark.slow
def test_the_plan_model_imports_nothing_from_the_dose_engine() -> None:
    edges = _tool().graph()
    reached = _reach(edges, "hbiview.plans.model")
    # the dose engine depends on the plan, not the reverse: not even a function-level import may lead there
    assert not {m for m in reached if m.startswith("hbiview.dose")}, sorted(reached)


@pytest.mark.slow
def test_no_import_circles() -> None:
    tool = _tool()
    circles = tool.components(tool.graph())
    # anatomy landmarks/pipeline/sites, plans/dose.prescription, dosevolume/radiobiology were broken, and
    # dose.compensation <-> dose.compute (the hot spots without compensation, which run the engine, moved
    # to dose.compute): none is left
    assert circles == [], circles
