"""Coverage-guided fuzzing (atheris) of what phones send: the manifest parser and the
submission XML reader. Run by hand; any exception other than the parsers' own errors is a bug.

    .venv/bin/pip install atheris
    .venv/bin/python bench/fuzz_manifest.py -max_total_time=60 -atheris_runs=0
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

import atheris

with atheris.instrument_imports():
    from crypto.errors import ManifestError
    from crypto.manifest import parse_manifest
    from forms.instance import XmlRefused, instance_data, parse_xml, plain_header

SEEDS = [
    b'<data xmlns="http://www.opendatakit.org/xforms/encrypted" id="f" version="1" '
    b'encrypted="yes"><base64EncryptedKey>a</base64EncryptedKey><orx:meta '
    b'xmlns:orx="http://openrosa.org/xforms"><orx:instanceID>uuid:1</orx:instanceID></orx:meta>'
    b"<media><file>a.jpg.enc</file></media><encryptedXmlFile>submission.xml.enc"
    b"</encryptedXmlFile></data>",
    b'<data id="f"><a>1</a><g><b>2</b></g><meta><instanceID>uuid:2</instanceID></meta></data>',
]


def one_input(data: bytes) -> None:
    with contextlib.suppress(ManifestError):
        parse_manifest(data)
    try:
        root = parse_xml(data)
        plain_header(root)
        instance_data(root, ["g"])
    except XmlRefused:
        pass


if __name__ == "__main__":
    corpus = Path("var/fuzz-corpus")
    corpus.mkdir(parents=True, exist_ok=True)
    for n, seed in enumerate(SEEDS):
        (corpus / f"seed{n}").write_bytes(seed)
    atheris.Setup([*sys.argv, str(corpus)], one_input)
    atheris.Fuzz()
