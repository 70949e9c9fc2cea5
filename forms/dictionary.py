"""The data dictionary: every field of every form, its type, sensitivity class and choices.

Generated from the XLSForm sources (`fieldcase forms dictionary`); a test fails when the
committed docs/data-dictionary.md is out of date.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from forms.compiler import RETIRED_COLUMN, RETIRED_VALUES, CompiledForm, compile_all
from forms.workbook import Row

DICTIONARY_PATH = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"
CLASSES = {
    "P3": "direct identifier: only in the encrypted submission and the case view of "
    "authorised users; never exported",
    "P2": "quasi-identifier / sensitive: exported only banded or aggregated",
    "P1": "analytic code: safe in aggregate tables",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(row: Row) -> str:
    """A choice as the dictionary lists it; a retired code says so (it only labels old data)."""
    retired = str(row.get(RETIRED_COLUMN, "")).strip().lower() in RETIRED_VALUES
    english = _cell(str(row.get("label::English (en)", "")))
    return f"`{row['name']}` ({english}){' — retired' if retired else ''}"


def render(forms: Sequence[CompiledForm]) -> str:
    """The dictionary as Markdown."""
    lines = [
        "# Data dictionary",
        "",
        "Generated from `forms/xlsforms/*.xlsx` by `fieldcase forms dictionary`; do not edit.",
        "",
        "A code marked *retired* is never offered for new answers; it stays so that older "
        "submissions keep their labels (docs/forms.md, change log).",
        "",
        "Sensitivity classes:",
        "",
        *[f"- **{code}**: {meaning}" for code, meaning in CLASSES.items()],
        "",
    ]
    for form in forms:
        lines += [
            f"## `{form.form_id}` — {_cell(form.title)}",
            "",
            f"Encrypted on the phone: {'yes' if form.encrypted else 'no'}.",
            "",
            "| field | path | type | class | choices | Tiếng Việt | English |",
            "|---|---|---|---|---|---|---|",
        ]
        for item in form.fields:
            lines.append(
                f"| `{item.name}` | `{item.path}` | {item.type} | {item.sensitivity} | "
                f"{item.choice_list or ''} | {_cell(item.label_vi)} | {_cell(item.label_en)} |"
            )
        lines.append("")
        used = sorted({f.choice_list for f in form.fields if f.choice_list} & set(form.choices))
        if used:
            lines += ["Choice lists:", ""]
            for list_name in used:
                codes = ", ".join(_code(row) for row in form.choices[list_name])
                lines.append(f"- **{list_name}**: {codes}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def build_dictionary(out: Path = DICTIONARY_PATH) -> Path:
    """Write the dictionary for the forms as they are now."""
    forms = compile_all(public_key="placeholder-key-not-used", validate=False)
    out.write_text(render(forms), encoding="utf-8")
    return out
