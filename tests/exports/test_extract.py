"""The de-identified extract: k-anonymous, counted, and free of identifiers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from exports.extract import QUASI, age_broad, anonymise
from server.cli import main
from server.services.setup import initialise
from server.store.db import Store
from tests.exports.test_reports import intake
from tests.factories import store_decrypted

DATA_USE_YES = {"consent_by": "self", "consent_intake": "yes", "consent_data_use": "yes"}

row = st.fixed_dictionaries(
    {
        "yearOfRegistration": st.sampled_from([2024, 2025]),
        "gender": st.sampled_from(["Female", "Male", "Unknown"]),
        "ageBroad": st.sampled_from(["0--8", "9--17", "18--20", "27--29", "48+"]),
        "citizenship": st.sampled_from(["VNM", "VNM", "VNM", "LAO", "CHN"]),
        "CountryOfExploitation": st.sampled_from(["CHN", "CHN", "KHM", "MYS", "THA", ""]),
    }
)


@settings(max_examples=100, deadline=None)
@given(st.lists(row, max_size=120), st.integers(2, 15))
def test_every_combination_occurs_at_least_k_times(rows: list[dict[str, object]], k: int) -> None:
    kept, report = anonymise(rows, k)
    counts = Counter(tuple(r[q] for q in QUASI) for r in kept)
    assert all(n >= k for n in counts.values())
    assert report.records_in == len(rows)
    assert report.records_out == len(kept) == len(rows) - report.dropped
    assert report.generalised <= len(rows)


def test_age_bands() -> None:
    assert [age_broad(a) for a in (0, 8, 9, 17, 18, 29, 30, 47, 48, None)] == [
        "0--8",
        "0--8",
        "9--17",
        "9--17",
        "18--20",
        "27--29",
        "30--38",
        "39--47",
        "48+",
        "",
    ]


def test_cli_extract(store: Store, runner: CliRunner, config: object, tmp_path: Path) -> None:
    initialise(config, store)  # type: ignore[arg-type]
    for n in range(12):
        data = intake(
            f"01-2025-{n:05d}-00",
            "2025-03-01",
            "handover_foreign",
            "female",
            20 + n % 3,
            "sexual_exploitation",
            "cn",
        )
        data["experience"] = {"means_control": "debt_bondage threats"}
        data["consent"] = DATA_USE_YES  # the extract holds only persons who consent to it
        store_decrypted(store, "vt01_intake", data, f"uuid:x{n}")
    rare = intake("01-2025-99999-00", "2025-03-02", "rescued", "male", 61, "forced_labour", "my")
    rare["consent"] = DATA_USE_YES
    store_decrypted(store, "vt01_intake", rare, "uuid:rare")
    out = tmp_path / "extract.csv"
    result = runner.invoke(main, ["export", "extract", "--period", "2025", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (
        result.output.strip()
        .splitlines()[-1]
        .startswith("13 persons, 13 generalised, 1 dropped, 12 written")
    )
    text = out.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].startswith("\ufeffyearOfRegistration,gender,ageBroad,citizenship,")
    assert len(lines) == 13
    assert lines[1].startswith("2025,Female,18+,VNM,CHN,0,1,0,1,1,")
    assert "Tên Giả" not in text
    assert "01-2025" not in text
