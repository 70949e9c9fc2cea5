"""`report.json`: the report tables in a shape the next level up can add together.

```
{"period": {"code", "start", "end"}, "unit", "generated_at", "definitions_version",
 "tables": [{"id", "title": {"vi", "en"}, "columns": [{"key", "label": {"vi", "en"}}],
             "rows": [{"key", "label": {"vi", "en"}, "values": {column key: count}}],
             "total": N}]}
```

`merge` adds several units' reports of the same period and definitions version: cells of the
same table, row and column are summed, rows only one unit has are kept (T9 units, T10
provinces). Every count is a count of persons, times, money or sessions, so sums are exact when
the units are disjoint (a case is counted only by the unit that received it).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from exports.periods import Period
from exports.reports import DEFINITIONS_VERSION, ReportTable


class MergeError(ValueError):
    """Reports that cannot be added together, with the reason."""


def report_document(
    tables: list[ReportTable], period: Period, unit: str, generated_at: datetime
) -> dict[str, Any]:
    """The report as report.json holds it."""
    return {
        "period": {
            "code": period.name,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        },
        "unit": unit,
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "definitions_version": DEFINITIONS_VERSION,
        "tables": [
            {
                "id": table.code,
                "title": {"vi": table.title_vi, "en": table.title_en},
                "columns": [
                    {"key": key, "label": {"vi": vi, "en": en}} for key, vi, en in table.columns
                ],
                "rows": [
                    {
                        "key": key,
                        "label": {"vi": vi, "en": en},
                        "values": {
                            column[0]: value
                            for column, value in zip(table.columns, counts, strict=True)
                        },
                    }
                    for key, vi, en, counts in table.rows
                ],
                "total": table.total,
            }
            for table in tables
        ],
    }


def dumps(document: dict[str, Any]) -> str:
    """The document as UTF-8 JSON text (Vietnamese kept readable)."""
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def _number(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MergeError(f"{where}: {value!r} is not a count (a suppressed report cannot be added)")
    return value


def merge(documents: list[dict[str, Any]], generated_at: datetime) -> dict[str, Any]:
    """The sum of several units' reports; MergeError when they differ in period or
    definitions version, or name the same unit twice."""
    if not documents:
        raise MergeError("no report to merge")
    first = documents[0]
    for document in documents:
        if document.get("definitions_version") != first.get("definitions_version"):
            raise MergeError(
                f"definitions version {document.get('definitions_version')!r} of unit "
                f"{document.get('unit')!r} differs from {first.get('definitions_version')!r}: "
                "the tables do not count the same things"
            )
        if document.get("period") != first.get("period"):
            raise MergeError(
                f"unit {document.get('unit')!r} reports {document.get('period')!r}, not "
                f"{first.get('period')!r}"
            )
    units = [str(d.get("unit")) for d in documents]
    if len(set(units)) != len(units):
        raise MergeError(f"a unit is given twice: {', '.join(sorted(units))}")
    tables: dict[str, dict[str, Any]] = {}
    for document in documents:
        for table in document.get("tables", []):
            into = tables.get(table["id"])
            if into is None:
                tables[table["id"]] = json.loads(json.dumps(table))
                into = tables[table["id"]]
                for row in into["rows"]:
                    for key, value in row["values"].items():
                        _number(value, f"{table['id']} {row['key']} {key}")
                continue
            if [c["key"] for c in into["columns"]] != [c["key"] for c in table["columns"]]:
                raise MergeError(f"{table['id']}: the units' columns differ")
            rows = {row["key"]: row for row in into["rows"]}
            for row in table["rows"]:
                if row["key"] not in rows:
                    into["rows"].append(json.loads(json.dumps(row)))
                    rows[row["key"]] = into["rows"][-1]
                    continue
                target = rows[row["key"]]["values"]
                for key, value in row["values"].items():
                    where = f"{table['id']} {row['key']} {key}"
                    target[key] = _number(target.get(key, 0), where) + _number(value, where)
            into["total"] = _number(into["total"], table["id"]) + _number(
                table["total"], table["id"]
            )
    for table in tables.values():  # totals last, as each unit has them
        table["rows"].sort(key=lambda row: row["key"] in ("total", "communes_of_units"))
    return {
        "period": first["period"],
        "unit": ",".join(sorted(units)),
        "generated_at": generated_at.isoformat(timespec="seconds"),
        "definitions_version": first["definitions_version"],
        "tables": list(tables.values()),
    }
