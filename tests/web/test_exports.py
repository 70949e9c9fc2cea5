"""Downloads from the web view: only the user's units, no identifiers, audited."""

from __future__ import annotations

import io
import zipfile

from openpyxl import load_workbook

from server.store import audit
from tests.web.conftest import WebDeployment


def test_supervisor_downloads_only_their_units(web: WebDeployment) -> None:
    response = web.client("sup_a").get("/exports/forms/vt01_intake.zip")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="vt01_intake.zip"'
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        main = archive.read("vt01_intake.csv").decode("utf-8")
    assert "01-2025-aaaaaa" in main
    assert "02-2025-bbbbbb" not in main
    assert "full_name" not in main
    with web.services.store.reader() as session:
        entry = audit.recent(session, limit=5, action="export.submissions")[0]
    assert entry.actor == "sup_a"
    assert entry.detail["identifiers"] is False


def test_viewer_gets_the_report_workbook_but_no_records(web: WebDeployment) -> None:
    viewer = web.client("viewer")
    response = viewer.get("/exports/report.xlsx?period=2025")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames[:3] == ["Báo cáo", "Report (EN)", "T1"]
    assert "Kỳ báo cáo: từ 15/12/2024 đến 14/12/2025" in [
        cell.value for row in book["Báo cáo"].iter_rows() for cell in row
    ]
    assert viewer.get("/exports/forms/vt01_intake.zip").status_code == 403
    page = viewer.get("/exports").get_data(as_text=True)
    assert "vt01_intake.zip" not in page


def test_bad_period_and_unknown_form(web: WebDeployment) -> None:
    client = web.client("admin")
    assert client.get("/exports/report.xlsx?period=2025-H3").status_code == 400
    assert client.get("/exports/forms/nope.zip").status_code == 404


def test_exports_page_shows_the_window_and_what_is_due_or_late(web: WebDeployment) -> None:
    from exports.periods import ReportCalendar
    from server.clock import utcnow

    admin = web.client("admin")
    today = utcnow().date()
    calendar = ReportCalendar()  # the test deployment keeps the default windows and due dates
    current = calendar.current(today, "half")
    page = admin.get("/exports").get_data(as_text=True)
    assert f"<strong>{current.name}</strong> ({current.start.isoformat()}" in page
    late = [span.name for span, due in calendar.schedule(today) if due < today]
    assert late, "some report of the last 90 days is past its due date"
    assert 'id="reports-late"' in page
    assert late[0] in page.split('id="reports-late"')[1].split("</p>")[0]
    # Making the report takes it off the late list.
    assert admin.get(f"/exports/report.xlsx?period={late[0]}").status_code == 200
    again = admin.get("/exports").get_data(as_text=True)
    late_line = (
        again.split('id="reports-late"')[1].split("</p>")[0] if "reports-late" in again else ""
    )
    assert late[0] not in late_line
    home = admin.get("/").get_data(as_text=True)
    assert 'id="report-calendar"' in home
    assert 'id="next-due"' in home
