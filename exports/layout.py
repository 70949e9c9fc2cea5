"""The tables of a per-form export, read from the XForm itself.

One table for the form and one per repeat group, in the layout ODK Central and Briefcase users
already load: column names are the group path joined with "-", repeat rows carry KEY and
PARENT_KEY (`uuid:…/minors[2]`). Nothing is hard-coded per form, so any published form exports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from xml.etree.ElementTree import Element

from forms.instance import local_name, parse_xml, repeat_paths_of_xform
from forms.labels import FormLabels, labels_for


@dataclass
class Column:
    """One field: its path below the table's row and its header."""

    path: str  # slash path from the instance root (repeats without indexes)
    relative: str  # slash path below the table's row element
    header: str
    kind: str | None  # select1, select, ... from the form body
    choices: list[str] = field(default_factory=list)

    @cached_property
    def parts(self) -> tuple[str, ...]:
        """`relative` split once, for the per-row lookups."""
        return tuple(self.relative.split("/"))

    @cached_property
    def parent(self) -> tuple[str, ...]:
        """The groups above the field, below the table's row."""
        return self.parts[:-1]

    @cached_property
    def leaf(self) -> str:
        """The field's own name."""
        return self.parts[-1]


@dataclass
class Table:
    """The main table (path "") or a repeat table."""

    path: str
    name: str
    columns: list[Column] = field(default_factory=list)
    children: list[Table] = field(default_factory=list)


def _primary_instance(root: Element) -> Element:
    for element in root.iter():
        if local_name(element.tag) == "instance" and element.get("id") is None:
            children = list(element)
            if children:
                return children[0]
    raise ValueError("the XForm has no primary instance")


def build_layout(xform_xml: str, form_id: str) -> Table:
    """The export tables of an XForm."""
    labels = labels_for(xform_xml)
    repeats = set(repeat_paths_of_xform(xform_xml))
    main = Table("", form_id)

    def walk(element: Element, path: str, table: Table) -> None:
        seen: set[str] = set()
        for child in element:
            name = local_name(child.tag)
            if name in seen:  # pyxform writes a repeat's template and first instance
                continue
            seen.add(name)
            child_path = f"{path}/{name}" if path else name
            if child_path in repeats:
                sub = Table(child_path, f"{form_id}-{child_path.replace('/', '-')}")
                table.children.append(sub)
                walk(child, child_path, sub)
            elif len(child):
                walk(child, child_path, table)
            else:
                table.columns.append(_column(labels, child_path, table.path))

    walk(_primary_instance(parse_xml(xform_xml.encode("utf-8"))), "", main)
    return main


def _column(labels: FormLabels, path: str, table_path: str) -> Column:
    relative = path[len(table_path) + 1 :] if table_path else path
    question = labels.questions.get(path)
    return Column(
        path=path,
        relative=relative,
        header=path.replace("/", "-"),
        kind=labels.kind(path),
        choices=[value for value, _, _ in question.choices] if question else [],
    )


def all_tables(table: Table) -> list[Table]:
    """The table and every table below it, depth first."""
    found = [table]
    for child in table.children:
        found += all_tables(child)
    return found


def drop_columns(table: Table, unwanted: Callable[[Column], bool]) -> None:
    """Remove the columns `unwanted` picks, in this table and every table below."""
    table.columns = [column for column in table.columns if not unwanted(column)]
    for child in table.children:
        drop_columns(child, unwanted)
