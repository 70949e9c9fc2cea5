"""A submission's data as a page shows it: labelled, choices decoded, repeats as tables.

Identifying (P3) values are replaced by a mask unless the viewer revealed them; media fields
name the part to show. Nothing here reads the store: the route hands over data and labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from forms.identifying import P3_FIELDS
from forms.labels import FormLabels
from server.i18n_text import country_display
from server.services.identifying import MASK

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".webp")
HIDDEN_GROUPS = ("meta",)


@dataclass
class Leaf:
    """One answered question."""

    path: str
    label: str
    display: str
    identifying: bool = False
    media: str | None = None

    @property
    def is_image(self) -> bool:
        """True when the media file is an image shown inline."""
        return bool(self.media) and self.media.lower().endswith(IMAGE_SUFFIXES)  # type: ignore[union-attr]


@dataclass
class Group:
    """A group of questions, with its label."""

    path: str
    label: str
    items: list[Leaf | Group | RepeatTable] = field(default_factory=list)


@dataclass
class RepeatTable:
    """A repeat group: one row per entry, one column per question."""

    path: str
    label: str
    columns: list[tuple[str, str]] = field(default_factory=list)  # (relative name, label)
    rows: list[list[Leaf | None]] = field(default_factory=list)


def _label(labels: FormLabels | None, path: str, language: str) -> str:
    found = labels.question(path, language) if labels else None
    return found or path.rsplit("/", 1)[-1]


def _leaf(
    labels: FormLabels | None,
    path: str,
    value: Any,
    language: str,
    identifying: frozenset[str],
    revealed: bool,
) -> Leaf:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    is_identifying = path.rsplit("/", 1)[-1] in identifying
    if is_identifying and not revealed:
        return Leaf(path, _label(labels, path, language), MASK if text else "", True)
    display = labels.display(path, text, language) if labels and text else text
    if text:
        display = country_display(path.rsplit("/", 1)[-1], text, display, language)
    media = None
    if labels and labels.data_type(path) == "binary" and text:
        media = text
    return Leaf(path, _label(labels, path, language), display, is_identifying, media)


def _flatten(entry: Mapping[str, Any], path: str) -> list[tuple[str, Any]]:
    """Leaves of one repeat entry, nested groups flattened, nested repeats summarised."""
    leaves: list[tuple[str, Any]] = []
    for key, value in entry.items():
        child = f"{path}/{key}"
        if isinstance(value, Mapping):
            leaves += _flatten(value, child)
        elif isinstance(value, list):
            leaves.append((child, f"[{len(value)}]"))
        else:
            leaves.append((child, value))
    return leaves


def _repeat(
    labels: FormLabels | None,
    path: str,
    entries: list[Any],
    language: str,
    identifying: frozenset[str],
    revealed: bool,
) -> RepeatTable:
    table = RepeatTable(path, _label(labels, path, language))
    flattened = [_flatten(e, path) if isinstance(e, Mapping) else [] for e in entries]
    columns: list[str] = []
    for leaves in flattened:
        for leaf_path, _ in leaves:
            if leaf_path not in columns:
                columns.append(leaf_path)
    table.columns = [(c, _label(labels, c, language)) for c in columns]
    for leaves in flattened:
        values = dict(leaves)
        table.rows.append(
            [
                _leaf(labels, c, values[c], language, identifying, revealed)
                if c in values
                else None
                for c in columns
            ]
        )
    return table


def build(
    data: Mapping[str, Any],
    labels: FormLabels | None,
    language: str,
    *,
    identifying: frozenset[str] = P3_FIELDS,
    revealed: bool = False,
    prefix: str = "",
) -> list[Leaf | Group | RepeatTable]:
    """The display tree of a submission's data (or of one group of it)."""
    items: list[Leaf | Group | RepeatTable] = []
    for key, value in data.items():
        path = f"{prefix}/{key}" if prefix else key
        if not prefix and key in HIDDEN_GROUPS:
            continue
        if isinstance(value, Mapping):
            group = Group(path, _label(labels, path, language))
            group.items = build(
                value, labels, language, identifying=identifying, revealed=revealed, prefix=path
            )
            items.append(group)
        elif isinstance(value, list):
            items.append(_repeat(labels, path, value, language, identifying, revealed))
        else:
            items.append(_leaf(labels, path, value, language, identifying, revealed))
    return items


_REFERENCE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}")


def _answers(
    data: Mapping[str, Any],
    labels: FormLabels | None,
    language: str,
    identifying: frozenset[str],
    revealed: bool,
    prefix: str = "",
) -> dict[str, str]:
    """Each question's name (outside repeats) -> its value as shown: what `${name}` in a
    label stands for. Identifying values stay masked unless revealed."""
    found: dict[str, str] = {}
    for key, value in data.items():
        path = f"{prefix}/{key}" if prefix else key
        if isinstance(value, Mapping):
            found.update(_answers(value, labels, language, identifying, revealed, path))
        elif isinstance(value, str) or value is None or isinstance(value, int | float):
            found.setdefault(
                key, _leaf(labels, path, value, language, identifying, revealed).display
            )
    return found


def _fill(label: str, answers: Mapping[str, str]) -> str:
    """`label` with each `${name}` replaced by that question's answer (kept when unknown)."""
    return _REFERENCE.sub(lambda m: answers.get(m.group(1), m.group(0)), label)


def _fill_tree(items: list[Leaf | Group | RepeatTable], answers: Mapping[str, str]) -> None:
    for item in items:
        item.label = _fill(item.label, answers)
        if isinstance(item, Group):
            _fill_tree(item.items, answers)
        elif isinstance(item, RepeatTable):
            item.columns = [(name, _fill(label, answers)) for name, label in item.columns]


def with_references(
    data: Mapping[str, Any],
    labels: FormLabels | None,
    language: str,
    *,
    identifying: frozenset[str] = P3_FIELDS,
    revealed: bool = False,
) -> list[Leaf | Group | RepeatTable]:
    """`build`, with `${name}` references in labels (a note showing the case code, say)
    filled from the submission, as the phone showed them."""
    items = build(data, labels, language, identifying=identifying, revealed=revealed)
    _fill_tree(items, _answers(data, labels, language, identifying, revealed))
    return items


def has_identifying(data: Mapping[str, Any], identifying: frozenset[str] = P3_FIELDS) -> bool:
    """True when any identifying field has a value (so the page offers a reveal)."""
    for key, value in data.items():
        if isinstance(value, Mapping) and has_identifying(value, identifying):
            return True
        if isinstance(value, list) and any(
            isinstance(v, Mapping) and has_identifying(v, identifying) for v in value
        ):
            return True
        if key in identifying and isinstance(value, str) and value.strip():
            return True
    return False
