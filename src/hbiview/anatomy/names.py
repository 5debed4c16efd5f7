"""Clinical structure names -> hbiview roles ("Lt Lung" -> ``Lung_L``, "External" -> ``Body``...).

Roles are ``Body``, ``Lungs``, ``Lung_L``, ``Lung_R``, ``Skeleton``, ``Marrow`` and ``Bone_<site>`` for each
skeletal site of :data:`hbiview.labels.BONE_SITES` (``Bone_sternum``, ``Bone_thoracic_spine``...). A name is
split into lower-case words (at spaces, punctuation, digits and camel case); it maps to a role when its
words are exactly an organ word plus, for the lungs, a side word. Anything else ("Lungs-GTV", "PTV_Lung",
"Lung_L_PRV") keeps its own name, so a target volume is never mistaken for an organ.

Users override or extend the rules with a mapping ``{clinical name: role}`` (a dict, or a TOML or JSON file
of that form, optionally under a ``[names]`` table); an empty role (``""``) or ``"ignore"`` drops the name.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from hbiview.errors import InputError, MissingInputError, warn
from hbiview.labels import BONE_SITES
from hbiview.volume import Structure

__all__ = ["ROLES", "load_names_map", "map_structures", "role_of"]

#: Every role a clinical name can map to.
ROLES: tuple[str, ...] = (
    "Body",
    "Lungs",
    "Lung_L",
    "Lung_R",
    "Skeleton",
    "Marrow",
    *(f"Bone_{site}" for site in BONE_SITES),
)

_LEFT = {"l", "lt", "left", "li", "links", "sin", "sinister", "g", "gauche"}
_RIGHT = {"r", "rt", "right", "re", "rechts", "dx", "dex", "dexter", "d", "droit", "droite"}
_BOTH = {"both", "total", "tot", "bilat", "bilateral", "combined", "sum", "all", "whole"}
_LUNG = {"lung", "lungs", "pulmo", "pulm", "poumon", "poumons", "lunge", "lungen"}

#: Whole-name rules: frozenset of words -> role.
_EXACT: dict[frozenset[str], str] = {
    **{
        frozenset(w): "Body"
        for w in (
            ["body"],
            ["external"],
            ["ext"],
            ["outline"],
            ["skin"],
            ["patient"],
            ["body", "contour"],
            ["external", "contour"],
            ["body", "outline"],
            ["external", "body"],
            ["koerper"],
            ["aussenkontur"],
        )
    },
    **{
        frozenset(w): "Skeleton"
        for w in (["bone"], ["bones"], ["skeleton"], ["bony", "anatomy"], ["bone", "all"])
    },
    **{
        frozenset(w): "Marrow"
        for w in (
            ["marrow"],
            ["bone", "marrow"],
            ["red", "marrow"],
            ["active", "marrow"],
            ["bonemarrow"],
            ["red", "bone", "marrow"],
            ["active", "bone", "marrow"],
        )
    },
}

#: Skeletal-site words (after removing side words and plural "s") -> site of ``BONE_SITES``.
_SITE_WORDS: dict[frozenset[str], str] = {
    frozenset(["skull"]): "cranium",
    frozenset(["cranium"]): "cranium",
    frozenset(["calvarium"]): "cranium",
    frozenset(["mandible"]): "mandible",
    frozenset(["mandibula"]): "mandible",
    frozenset(["scapula"]): "scapulae",
    frozenset(["scapulae"]): "scapulae",
    frozenset(["clavicle"]): "clavicles",
    frozenset(["clavicula"]): "clavicles",
    frozenset(["sternum"]): "sternum",
    frozenset(["rib"]): "ribs",
    frozenset(["ribs"]): "ribs",
    frozenset(["costae"]): "ribs",
    frozenset(["spine", "cervical"]): "cervical_spine",
    frozenset(["c", "spine"]): "cervical_spine",
    frozenset(["spine", "thoracic"]): "thoracic_spine",
    frozenset(["t", "spine"]): "thoracic_spine",
    frozenset(["spine", "lumbar"]): "lumbar_spine",
    frozenset(["l", "spine"]): "lumbar_spine",
    frozenset(["sacrum"]): "sacrum",
    frozenset(["pelvis"]): "pelvis_os_coxae",
    frozenset(["hip"]): "pelvis_os_coxae",
    frozenset(["os", "coxae"]): "pelvis_os_coxae",
    frozenset(["iliac"]): "pelvis_os_coxae",
    frozenset(["ilium"]): "pelvis_os_coxae",
}


def _words(name: str) -> list[str]:
    """Lower-case words of a structure name: split at non-letters and at camel-case humps."""
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return [w for w in re.split(r"[^A-Za-z]+", spaced.lower()) if w]


_ROLE_KEYS = {r.lower(): r for r in ROLES}


def _default_role(name: str) -> str | None:
    if name.strip().lower() in _ROLE_KEYS:  # hbiview's own names, e.g. from a TotalSegmentator import
        return _ROLE_KEYS[name.strip().lower()]
    words = _words(name)
    if not words:
        return None
    key = frozenset(words)
    if len(key) != len(words):
        return None
    if key in _EXACT:
        return _EXACT[key]
    lung = key & _LUNG
    if len(lung) == 1:
        rest = key - lung
        if not rest:
            return "Lungs"
        if rest <= _BOTH:
            return "Lungs"
        if len(rest) == 1 and rest <= _LEFT:
            return "Lung_L"
        if len(rest) == 1 and rest <= _RIGHT:
            return "Lung_R"
        return None
    # skeletal sites: "Sternum", "Rib_L_3", "Spine_Thoracic", "Femur_R" (femur/humerus: whole bone)
    for words_key in (key, key - _LEFT - _RIGHT):
        if words_key in _SITE_WORDS:
            return f"Bone_{_SITE_WORDS[words_key]}"
    return None


def load_names_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a user's name mapping from a TOML or JSON file.

    The file holds ``clinical name = role`` pairs, at top level or under a ``[names]`` table, e.g.::

        [names]
        "Lt Lung" = "Lung_L"
        "PATIENT" = "Body"
        "Couch" = "ignore"

    Parameters
    ----------
    path
        ``.toml`` or ``.json`` file.

    Returns
    -------
    dict
        Clinical name -> role (validated against :data:`ROLES`).
    """
    file = Path(path)
    if not file.is_file():
        raise MissingInputError(f"{file}: names-map file not found")
    text = file.read_text(encoding="utf-8")
    try:
        if file.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
    except ValueError as exc:
        raise InputError(f"{file}: not valid {file.suffix.lstrip('.').upper() or 'TOML'}: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("names"), dict):
        data = data["names"]
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise InputError(f'{file}: expected pairs "clinical name" = "role" (roles: {", ".join(ROLES)})')
    return _validated(data, str(file))


def _validated(mapping: Mapping[str, str], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lower_roles = {r.lower(): r for r in ROLES}
    for name, role in mapping.items():
        key = role.strip()
        if key.lower() in {"", "ignore", "none"}:
            out[name] = ""
        elif key.lower() in lower_roles:
            out[name] = lower_roles[key.lower()]
        else:
            raise InputError(f"{where}: {name!r} maps to unknown role {role!r}; roles are {', '.join(ROLES)}")
    return out


def role_of(name: str, names_map: Mapping[str, str] | None = None) -> str | None:
    """The hbiview role of a clinical structure name, or ``None`` when it has none.

    Parameters
    ----------
    name
        ROI or file name, e.g. ``"Lt Lung"``, ``"LUNG_L"``, ``"External"``.
    names_map
        User mapping (clinical name -> role), matched case-insensitively before the built-in rules; a role
        ``""`` or ``"ignore"`` means "not a role".

    Examples
    --------
    >>> role_of("Lt Lung"), role_of("LUNG_L"), role_of("Lungs"), role_of("External"), role_of("Lungs-GTV")
    ('Lung_L', 'Lung_L', 'Lungs', 'Body', None)
    """
    if names_map:
        user = {k.strip().lower(): v for k, v in _validated(names_map, "names map").items()}
        if name.strip().lower() in user:
            return user[name.strip().lower()] or None
    return _default_role(name)


def map_structures(
    structures: Mapping[str, Structure] | Sequence[Structure],
    names_map: Mapping[str, str] | None = None,
) -> tuple[dict[str, Structure], dict[str, Structure]]:
    """Sort imported structures into hbiview roles and the rest.

    Parameters
    ----------
    structures
        Imported structures (e.g. from :func:`hbiview.io.rtstruct.read_rtstruct`).
    names_map
        User mapping, see :func:`role_of`.

    Returns
    -------
    roles, others
        ``roles``: role -> structure renamed to its role (when two structures claim a role, the first
        with voxels wins and a warning names both); ``others``: the remaining structures by their own name.
    """
    items = list(structures.values()) if isinstance(structures, Mapping) else list(structures)
    roles: dict[str, Structure] = {}
    others: dict[str, Structure] = {}
    original: dict[str, str] = {}
    for s in items:
        role = role_of(s.name, names_map)
        if role is None:
            others[s.name] = s
            continue
        if role in roles:
            if roles[role].mask.any() or not s.mask.any():
                warn(
                    f"structures {original[role]!r} and {s.name!r} both map to {role}; "
                    f"kept {original[role]!r}"
                )
                continue
        roles[role] = Structure(s.geometry, s.mask, name=role, color=s.color, weights=s.weights)
        original[role] = s.name
    return roles, others
