"""Compiling the XLSForm suite with pyxform's API and validating it with ODK Validate.

The compiler adds what the spreadsheets must not carry themselves: the server's public key
(for forms whose settings say `encrypted` = yes, the default), the submission URL when one is
configured, and a version derived from the content, so an edited spreadsheet always gets a new
version and an unchanged one never does. pyxform's warnings are kept on the result.

Retired choices: a code is never deleted or reused, so old submissions keep their labels. A
choice row with `retired` = yes stays in the form (the phone, the exports and the web view still
label it) but every question of its list gets a `choice_filter` that hides it from new answers,
joined with `and` to the question's own filter.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyxform.errors import PyXFormError
from pyxform.validators.odk_validate import ODKValidateError, check_xform
from pyxform.xls2xform import convert

from forms.errors import FormError
from forms.limits import WorkbookLimits, check_workbook
from forms.workbook import Row, Workbook, read_workbook

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_DIR = PACKAGE_DIR / "xlsforms"
MEDIA_DIR = PACKAGE_DIR / "media"
VI, EN = "Tiếng Việt (vi)", "English (en)"
# Columns fieldcase reads itself and pyxform must not see.
OWN_SURVEY_COLUMNS = ("sensitivity",)
OWN_SETTINGS_COLUMNS = ("encrypted",)
_FILE_TYPE = re.compile(r"^select_(?:one|multiple)_from_file\s+(\S+)$")
_SELECT = re.compile(r"^select_(?:one|multiple)\s+(\S+)$")
# `csv-external NAME` / `xml-external NAME`: a dataset the form reads (instance('NAME')).
_EXTERNAL = re.compile(r"^(csv|xml)-external$")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,100}$")
_FORM_ID = re.compile(r"^[^\W\d][\w.-]{0,99}$")
RETIRED_COLUMN = "retired"
RETIRED_FILTER = "not(retired = 'yes')"
RETIRED_VALUES = ("yes", "true", "1", "x")


@dataclass(frozen=True)
class Field:
    """One question or calculation of a form, for the data dictionary and the server."""

    name: str
    path: str
    type: str
    sensitivity: str
    choice_list: str | None
    label_vi: str
    label_en: str
    repeat: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class CompiledForm:
    """An XForm ready to publish, with the files the phone needs beside it."""

    form_id: str
    version: str
    title: str
    xml: bytes
    attachments: dict[str, bytes]
    encrypted: bool
    warnings: list[str] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    choices: dict[str, list[Row]] = field(default_factory=dict)


def _attachment_name(row: Row) -> str | None:
    """The media file a survey row needs: a select's list file, or an external dataset's."""
    kind = str(row.get("type", "")).strip()
    match = _FILE_TYPE.match(kind)
    if match:
        return match.group(1)
    external = _EXTERNAL.match(kind)
    if external:
        return f"{row.get('name', '')}.{external.group(1)}"
    return None


def _attachments(workbook: Workbook, media_dir: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for row in workbook.sheets["survey"]:
        name = _attachment_name(row)
        if name is not None:
            if not _PLAIN_NAME.match(name):
                raise FormError(
                    workbook.name, f"attachment name {name!r} must be a plain file name"
                )
            path = media_dir / name
            if not path.is_file():
                raise FormError(workbook.name, f"attachment {name} is not in {media_dir}")
            files[name] = path.read_bytes()
    return files


def _fields(workbook: Workbook) -> list[Field]:
    """Every named row with its group path, repeat and sensitivity class."""
    found: list[Field] = []
    stack: list[tuple[str, bool]] = []
    for row in workbook.sheets["survey"]:
        kind = str(row.get("type", "")).strip()
        name = str(row.get("name", "")).strip()
        low = kind.replace(" ", "_").lower()
        if low in ("begin_group", "begin_repeat"):
            stack.append((name, low == "begin_repeat"))
            continue
        if low in ("end_group", "end_repeat"):
            if stack:
                stack.pop()
            continue
        if not name or kind in ("note",) or _EXTERNAL.match(kind):
            continue  # not an answer: a note, or a dataset the form reads
        choice = _SELECT.match(kind) or _FILE_TYPE.match(kind)
        repeats = [n for n, is_repeat in stack if is_repeat]
        found.append(
            Field(
                name=name,
                path="/".join([n for n, _ in stack] + [name]),
                type=kind.split()[0],
                sensitivity=str(row.get("sensitivity", "")) or "-",
                choice_list=choice.group(1) if choice else None,
                label_vi=str(row.get(f"label::{VI}", "")),
                label_en=str(row.get(f"label::{EN}", "")),
                repeat=repeats[-1] if repeats else None,
            )
        )
    return found


def _is_retired(form_id: str, row: Row) -> bool:
    value = str(row.get(RETIRED_COLUMN, "")).strip().lower()
    if value in ("", "no", "false", "0"):
        return False
    if value in RETIRED_VALUES:
        return True
    raise FormError(
        form_id,
        f"choice {row.get('list_name')}/{row.get('name')}: column retired must be yes or "
        f"empty, not {value!r}",
    )


def retired_codes(form_id: str, workbook: Workbook) -> dict[str, set[str]]:
    """list name -> the codes marked retired in the choices sheet."""
    found: dict[str, set[str]] = {}
    for row in workbook.sheets.get("choices", []):
        if _is_retired(form_id, row):
            found.setdefault(str(row.get("list_name")), set()).add(str(row.get("name")))
    return found


def _with_retired_filter(row: Row, retired_lists: set[str]) -> Row:
    """The survey row with its list's retired codes filtered out of new answers."""
    match = _SELECT.match(str(row.get("type", "")).strip())
    if not match or match.group(1) not in retired_lists:
        return row
    own = str(row.get("choice_filter", "")).strip()
    return {**row, "choice_filter": f"({own}) and {RETIRED_FILTER}" if own else RETIRED_FILTER}


def _pyxform_input(workbook: Workbook, settings: Row, form_id: str) -> dict[str, Any]:
    retired_lists = set(retired_codes(form_id, workbook))
    survey = [
        _with_retired_filter(
            {k: v for k, v in row.items() if k not in OWN_SURVEY_COLUMNS}, retired_lists
        )
        for row in workbook.sheets["survey"]
    ]
    sheets: dict[str, Any] = {"survey": survey, "settings": [settings]}
    # The survey's columns, named for pyxform: without them it takes its first rows' keys,
    # and its reference check then misses a column only later rows fill (`trigger`).
    sheets["survey_header"] = [dict.fromkeys(key for row in survey for key in row)]
    for name in ("choices", "external_choices", "entities"):
        if workbook.sheets.get(name):
            sheets[name] = workbook.sheets[name]
    if retired_lists:
        # The phone filters on `retired` = 'yes' exactly, whatever the sheet wrote. The first
        # row names the column too: pyxform takes a sheet's headers from its first rows.
        sheets["choices"] = [
            {k: v for k, v in row.items() if k != RETIRED_COLUMN}
            | ({RETIRED_COLUMN: "yes"} if _is_retired(form_id, row) else {})
            | ({RETIRED_COLUMN: ""} if position == 0 and not _is_retired(form_id, row) else {})
            for position, row in enumerate(sheets["choices"])
        ]
    return sheets


def compile_form(
    xlsx_path: Path,
    *,
    public_key: str | None,
    submission_url: str | None = None,
    validate: bool = True,
    media_dir: Path = MEDIA_DIR,
    limits: WorkbookLimits | None = None,
) -> CompiledForm:
    """Compile one XLSForm; FormError carries pyxform's or ODK Validate's message.

    The workbook is first checked against `limits` (forms/limits.py), before any cell is read.
    """
    check_workbook(xlsx_path, limits or WorkbookLimits())
    workbook = read_workbook(xlsx_path)
    attachments = _attachments(workbook, media_dir)
    settings = workbook.settings
    wants_encryption = str(settings.get("encrypted", "yes")).lower() != "no"
    for column in (*OWN_SETTINGS_COLUMNS, "version", "public_key", "submission_url"):
        settings.pop(column, None)
    encrypted = wants_encryption and bool(public_key)
    if encrypted:
        settings["public_key"] = public_key
    if submission_url:
        settings["submission_url"] = submission_url
    extra = [
        b"key:" + (public_key or "").encode() if encrypted else b"plain",
        (submission_url or "").encode(),
        *[name.encode() + content for name, content in sorted(attachments.items())],
    ]
    version = "c" + workbook.content_hash(*extra)[:10]
    settings["version"] = version
    form_id = str(settings.get("form_id") or workbook.name)
    if not _FORM_ID.match(form_id):
        raise FormError(
            form_id,
            "form_id must be letters, digits, '_', '-' or '.', starting "
            "with a letter or '_' (it appears in URLs and file names)",
        )

    warnings: list[str] = []
    if wants_encryption and not public_key:
        warnings.append(f"{form_id}: built WITHOUT encryption (no public key given)")
    try:
        result = convert(
            _pyxform_input(workbook, settings, form_id),
            warnings=warnings,
            validate=False,
            form_name="data",
        )
    except PyXFormError as exc:
        raise FormError(form_id, str(exc)) from None
    xml = result.xform.encode("utf-8")
    if validate:
        warnings += validate_xform(form_id, xml, attachments)
    return CompiledForm(
        form_id=form_id,
        version=version,
        title=str(settings.get("form_title") or form_id),
        xml=xml,
        attachments=attachments,
        encrypted=encrypted,
        warnings=warnings,
        fields=_fields(workbook),
        choices=_choices(workbook),
    )


def _choices(workbook: Workbook) -> dict[str, list[Row]]:
    lists: dict[str, list[Row]] = {}
    for row in workbook.sheets.get("choices", []):
        if "list_name" in row and "name" in row:
            lists.setdefault(str(row["list_name"]), []).append(row)
    return lists


def validate_xform(form_id: str, xml: bytes, attachments: dict[str, bytes]) -> list[str]:
    """Run ODK Validate (JavaRosa, needs java) on an XForm; FormError when it is invalid."""
    with tempfile.TemporaryDirectory(prefix="fieldcase-validate-") as folder:
        path = Path(folder) / "form.xml"  # never a name from the sheet
        path.write_bytes(xml)
        for name, content in attachments.items():
            (Path(folder) / name).write_bytes(content)
        try:
            found: list[str] = check_xform(str(path))
        except ODKValidateError as exc:
            raise FormError(form_id, str(exc)) from None
        except OSError as exc:  # java missing
            raise FormError(form_id, f"ODK Validate could not run: {exc}") from None
    return [w for w in found if w.strip()]


def source_files(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The XLSForm sources, by name (temporary Office lock files skipped)."""
    return sorted(p for p in source_dir.glob("*.xlsx") if not p.name.startswith("~$"))


def compile_all(
    source_dir: Path = SOURCE_DIR,
    *,
    public_key: str | None,
    submission_url: str | None = None,
    validate: bool = True,
    media_dir: Path = MEDIA_DIR,
    jobs: int = 2,
) -> list[CompiledForm]:
    """Compile every form; ODK Validate (a JVM each) runs `jobs` at a time."""
    paths: Sequence[Path] = source_files(source_dir)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(
            pool.map(
                lambda p: compile_form(
                    p,
                    public_key=public_key,
                    submission_url=submission_url,
                    validate=validate,
                    media_dir=media_dir,
                ),
                paths,
            )
        )
