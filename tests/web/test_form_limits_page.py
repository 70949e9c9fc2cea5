"""The admin's upload page says in Vietnamese (or English) why a workbook is too large."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from server.store.models import FormVersion
from tests.web.conftest import WebDeployment
from tests.workbooks import zip_bomb


def test_an_oversized_workbook_is_refused_in_the_pages_language(web: WebDeployment) -> None:
    with web.store.session() as session:
        versions = session.scalar(select(func.count()).select_from(FormVersion))
    admin = web.new_client("admin")
    bomb = zip_bomb(64 * 1024 * 1024)

    def upload() -> str:
        response = admin.post(
            "/admin/forms",
            {"xlsx": (io.BytesIO(bomb), "bom.xlsx")},
            content_type="multipart/form-data",
        )
        assert response.status_code == 400
        return response.get_data(as_text=True)

    assert (
        "Bảng tính khi giải nén lớn hơn 32 MB. Biểu mẫu khi giải nén chỉ được tối đa 32 MB."
        in upload()
    )
    admin.post("/lang", {"lang": "en", "next": "/admin/forms"})
    assert "The workbook unpacks to more than 32 MB. A form may unpack to at most 32 MB." in (
        upload()
    )
    with web.store.session() as session:
        assert session.scalar(select(func.count()).select_from(FormVersion)) == versions
