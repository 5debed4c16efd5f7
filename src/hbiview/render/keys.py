"""Keys and toggles of the interactive window (no imports: ``hbiview view --help`` lists them)."""

from __future__ import annotations

__all__ = ["KEYS", "TOGGLES"]

#: keyboard keys of the window -> what they do
KEYS: dict[str, str] = {
    "s": "save a screenshot (hbiview-view-NNN.png in the current folder)",
    "n": "next plan",
    "b": "previous plan",
    "r": "reset the camera",
    "q": "close the window",
}

#: the structure and overlay groups a checkbox shows or hides
TOGGLES: tuple[str, ...] = ("skin", "lungs", "bone", "isodoses", "beams", "planes")
