"""Question and choice labels of a published XForm, in Vietnamese or English.

Reads what pyxform writes: labels given inline or through itext translations
(`jr:itext('id')`), choices as inline `<item>`s or as an `<itemset>` over a secondary instance
(whose items carry their label or an itext id). Paths are slash paths below the instance root,
as in `Submission.data` ("grp/question", repeats without indexes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from xml.etree.ElementTree import Element

from forms.instance import local_name, parse_xml

_ITEXT = re.compile(r"""jr:itext\(\s*(?:'([^']*)'|"([^"]*)"|([^)\s]+))\s*\)""")
_INSTANCE_REF = re.compile(r"""instance\(\s*['"]([^'"]+)['"]\s*\)""")
CONTROLS = {"input", "select1", "select", "upload", "trigger", "range", "rank", "odk:rank"}
STRUCTURES = {"group", "repeat"}


def language_matches(translation_lang: str, wanted: str) -> bool:
    """True when an itext language name ("Tiếng Việt (vi)", "English (en)", "vi") is `wanted`."""
    name = translation_lang.strip().lower()
    wanted = wanted.lower()
    if name == wanted or name.endswith(f"({wanted})"):
        return True
    aliases = {"vi": ("tiếng việt", "vietnamese"), "en": ("english",)}
    return any(name.startswith(alias) for alias in aliases.get(wanted, ()))


@dataclass
class Question:
    """One control of the form body."""

    path: str
    kind: str  # input, select1, select, upload, group, repeat, ...
    label_ref: str | None = None  # an itext id
    label_text: str | None = None  # an inline label
    choices: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    # (value, itext id, inline label)


@dataclass
class FormLabels:
    """Labels of one form version."""

    translations: dict[str, dict[str, str]]  # language -> itext id -> text
    default_language: str | None
    questions: dict[str, Question]
    bind_types: dict[str, str]

    def _language(self, wanted: str) -> dict[str, str]:
        for name, texts in self.translations.items():
            if language_matches(name, wanted):
                return texts
        if self.default_language in self.translations:
            return self.translations[self.default_language]
        return next(iter(self.translations.values()), {})

    def _text(self, itext_id: str | None, inline: str | None, language: str) -> str | None:
        if itext_id:
            found = self._language(language).get(itext_id)
            if found:
                return found
            for texts in self.translations.values():
                if texts.get(itext_id):
                    return texts[itext_id]
        return inline or None

    def question(self, path: str, language: str) -> str | None:
        """The label of the question at `path`, or None."""
        question = self.questions.get(path)
        if question is None:
            return None
        return self._text(question.label_ref, question.label_text, language)

    def path_of(self, name: str) -> str | None:
        """The path of the first question named `name` (a field name without its groups)."""
        for path in self.questions:
            if path.rsplit("/", 1)[-1] == name:
                return path
        for path in self.bind_types:
            if path.rsplit("/", 1)[-1] == name:
                return path
        return None

    def kind(self, path: str) -> str | None:
        """The control kind at `path` (select1, select, upload, ...), or None."""
        question = self.questions.get(path)
        return question.kind if question else None

    def data_type(self, path: str) -> str | None:
        """The bind type at `path` (string, date, binary, select1, ...)."""
        return self.bind_types.get(path)

    def choice(self, path: str, value: str, language: str) -> str | None:
        """The label of one choice value of the question at `path`, or None."""
        question = self.questions.get(path)
        if question is None:
            return None
        for choice_value, itext_id, inline in question.choices:
            if choice_value == value:
                return self._text(itext_id, inline, language)
        return None

    def display(self, path: str, value: str, language: str) -> str:
        """A stored value as a person reads it: choice labels instead of codes."""
        kind = self.kind(path)
        if kind == "select1":
            return self.choice(path, value, language) or value
        if kind in ("select", "odk:rank", "rank"):
            return ", ".join(self.choice(path, v, language) or v for v in value.split())
        return value


def _text_of(element: Element) -> str:
    """An element's text including <output value=...> placeholders, whitespace collapsed."""
    parts: list[str] = []
    if element.text:
        parts.append(element.text)
    for child in element:
        if local_name(child.tag) == "output":
            parts.append("${" + (child.get("value") or "").strip().rsplit("/", 1)[-1] + "}")
        parts.append(_text_of(child) if local_name(child.tag) != "output" else "")
        if child.tail:
            parts.append(child.tail)
    return " ".join("".join(parts).split())


def _itext_id(ref: str | None) -> tuple[str | None, str | None]:
    """(literal itext id, or the item child naming it) of a `jr:itext(...)` reference."""
    if not ref:
        return None, None
    match = _ITEXT.search(ref)
    if not match:
        return None, None
    literal = match.group(1) or match.group(2)
    return (literal, None) if literal is not None else (None, match.group(3))


def _relative(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return "/".join(parts[1:])


def _translations(root: Element) -> tuple[dict[str, dict[str, str]], str | None]:
    translations: dict[str, dict[str, str]] = {}
    default = None
    for element in root.iter():
        if local_name(element.tag) != "translation":
            continue
        lang = element.get("lang") or "default"
        if element.get("default"):
            default = lang
        texts = translations.setdefault(lang, {})
        for text in element:
            if local_name(text.tag) != "text" or not text.get("id"):
                continue
            values = [v for v in text if local_name(v.tag) == "value"]
            plain = [v for v in values if v.get("form") in (None, "long", "short")]
            chosen = plain[0] if plain else None
            if chosen is not None:
                texts[text.get("id", "")] = _text_of(chosen)
    return translations, default


def _secondary_instances(root: Element) -> dict[str, Element]:
    found = {}
    for element in root.iter():
        if local_name(element.tag) == "instance" and element.get("id"):
            found[element.get("id", "")] = element
    return found


def _label_of(control: Element) -> tuple[str | None, str | None]:
    for child in control:
        if local_name(child.tag) == "label":
            literal, _ = _itext_id(child.get("ref"))
            return literal, (_text_of(child) or None)
    return None, None


def _choices(
    control: Element, instances: dict[str, Element]
) -> list[tuple[str, str | None, str | None]]:
    choices: list[tuple[str, str | None, str | None]] = []
    for child in control:
        name = local_name(child.tag)
        if name == "item":
            value = label_ref = inline = None
            for part in child:
                if local_name(part.tag) == "value":
                    value = (part.text or "").strip()
                elif local_name(part.tag) == "label":
                    label_ref, _ = _itext_id(part.get("ref"))
                    inline = _text_of(part) or None
            if value is not None:
                choices.append((value, label_ref, inline))
        elif name == "itemset":
            choices.extend(_itemset_choices(child, instances))
    return choices


def _itemset_choices(
    itemset: Element, instances: dict[str, Element]
) -> list[tuple[str, str | None, str | None]]:
    match = _INSTANCE_REF.search(itemset.get("nodeset") or "")
    if not match or match.group(1) not in instances:
        return []  # choices from a CSV file: the code is shown as is
    value_ref, label_ref = "name", "label"
    for part in itemset:
        if local_name(part.tag) == "value":
            value_ref = part.get("ref") or value_ref
        elif local_name(part.tag) == "label":
            label_ref = part.get("ref") or label_ref
    literal, id_child = _itext_id(label_ref)
    choices: list[tuple[str, str | None, str | None]] = []
    for item in instances[match.group(1)].iter():
        if local_name(item.tag) != "item":
            continue
        fields = {local_name(f.tag): (f.text or "").strip() for f in item}
        value = fields.get(value_ref)
        if value is None:
            continue
        if id_child:
            choices.append((value, fields.get(id_child), None))
        elif literal:
            choices.append((value, literal, None))
        else:
            choices.append((value, None, fields.get(label_ref)))
    return choices


def parse_form_labels(xform_xml: str) -> FormLabels:
    """Read the labels of an XForm."""
    root = parse_xml(xform_xml.encode("utf-8"))
    translations, default = _translations(root)
    instances = _secondary_instances(root)
    bind_types = {}
    for element in root.iter():
        if local_name(element.tag) == "bind" and element.get("nodeset") and element.get("type"):
            bind_types[_relative(element.get("nodeset", ""))] = element.get("type", "")
    questions: dict[str, Question] = {}
    for element in root.iter():
        name = local_name(element.tag)
        if name not in CONTROLS and name not in STRUCTURES:
            continue
        ref = element.get("ref") or element.get("nodeset")
        if not ref or not ref.startswith("/"):
            continue
        path = _relative(ref)
        label_ref, label_text = _label_of(element)
        existing = questions.get(path)
        if existing is not None and (label_ref or label_text) is None:
            continue  # a repeat inside its labelled group: keep the group's label
        questions[path] = Question(
            path=path,
            kind=name,
            label_ref=label_ref,
            label_text=label_text,
            choices=_choices(element, instances) if name in ("select1", "select") else [],
        )
    return FormLabels(translations, default, questions, bind_types)


@lru_cache(maxsize=64)
def labels_for(xform_xml: str) -> FormLabels:
    """Labels of an XForm, cached by its text (versions are immutable)."""
    return parse_form_labels(xform_xml)
