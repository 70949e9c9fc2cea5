"""One error type with stable codes, rendered as HTML, JSON or OpenRosa XML only at the edge.

A `Problem` carries an HTTP status and a dotted code whose first part is the status (so
"409.1" is the first kind of conflict). Codes are stable: clients and tests rely on them, so a
code is never reused for another meaning. Messages are shown to people: they must never carry a
victim's identifying data.
"""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    """An expected failure with a stable code, a status and a message fit to show a user."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        message_args: dict[str, Any] | None = None,
        vi: str | None = None,
    ) -> None:
        # `vi`: the Vietnamese of the message, which ODK Collect shows first (`phone_text`);
        # a %-template too when message_args are given.
        # With message_args, `message` is a %-template: the web edge translates the template,
        # then fills it in (server/web/i18n.py problem_message); `message` is the English text.
        self.template = message
        self.message_args = message_args or {}
        if self.message_args:
            message = message % self.message_args
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        self.vi = vi

    @property
    def phone_text(self) -> str:
        """The text ODK Collect shows as it is: Vietnamese first, then English."""
        vi = self.vi or VIETNAMESE_BY_STATUS.get(self.status, VIETNAMESE_FALLBACK)
        if self.message_args and self.vi:
            vi = vi % self.message_args
        if self.message.startswith(vi):  # the message is bilingual already
            return self.message
        return f"{vi} / {self.message}"

    @property
    def status(self) -> int:
        """The HTTP status: the part of the code before the dot."""
        return int(self.code.split(".", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of this problem."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body

    def __repr__(self) -> str:
        return f"Problem({self.code!r}, {self.message!r})"


# What a phone shows for a problem without a Vietnamese text of its own (a message built from
# a parser's words, a framework's error): the kind of failure, then the English details.
VIETNAMESE_BY_STATUS = {
    400: "Máy chủ không nhận yêu cầu này.",
    401: "Cần đăng nhập.",
    403: "Bạn không được phép làm việc này.",
    404: "Không tìm thấy nội dung được yêu cầu.",
    405: "Phương thức này không được phép ở đây.",
    409: "Yêu cầu mâu thuẫn với dữ liệu đã có; không có gì bị thay đổi.",
    413: "Bản gửi quá lớn.",
    415: "Máy chủ không nhận kiểu nội dung này.",
    429: "Thử quá nhiều lần. Hãy thử lại sau.",
    500: "Máy chủ gặp lỗi. Lỗi đã được ghi lại.",
    503: "Máy chủ tạm thời không phục vụ được. Hãy gửi lại sau.",
}
VIETNAMESE_FALLBACK = "Máy chủ không thực hiện được yêu cầu này."


class ConfigError(Exception):
    """A setting is missing or malformed; raised before any request is served."""


# The catalogue. Each function names one kind of failure; call sites never invent codes.


def bad_request(message: str, vi: str | None = None) -> Problem:
    """400.1: the request is malformed (`vi`: its Vietnamese, when the message is fixed)."""
    return Problem("400.1", message, vi=vi)


def malformed_xml(reason: str) -> Problem:
    """400.2: submitted XML cannot be parsed or is hostile."""
    return Problem(
        "400.2",
        f"The submission XML is not acceptable: {reason}",
        vi="Máy chủ không nhận tệp XML của bản gửi này.",
    )


def missing_submission_file() -> Problem:
    """400.3: the multipart body has no xml_submission_file part."""
    return Problem(
        "400.3",
        "The request has no xml_submission_file part.",
        vi="Yêu cầu không có phần xml_submission_file.",
    )


def hostile_file_name(name: str) -> Problem:
    """400.4: a part's file name could escape storage."""
    return Problem(
        "400.4",
        "A file name in the submission is not allowed.",
        vi="Một tên tệp trong bản gửi không được phép.",
        details={"reason": "file names must be plain names without paths"},
    )


def form_version_unknown(form_id: str, version: str | None) -> Problem:
    """400.5: the submission names a form version the server never published."""
    return Problem(
        "400.5",
        f"Form {form_id!r} version {version!r} is not published on this "
        "server. Download the current form and fill it again.",
        vi=f"Biểu mẫu {form_id!r} phiên bản {version!r} chưa được công bố trên máy chủ này. "
        "Hãy tải biểu mẫu hiện hành và điền lại.",
    )


def validation_failed(
    message: str,
    details: dict[str, Any] | None = None,
    message_args: dict[str, Any] | None = None,
) -> Problem:
    """400.6: a value given in a form or a command is not valid (`message` a %-template when
    `message_args` are given)."""
    return Problem("400.6", message, details=details, message_args=message_args)


def csrf_failed() -> Problem:
    """400.7: a web form came without its anti-forgery token, or the token expired."""
    return Problem(
        "400.7",
        "This form has expired or did not come from this site. Reload the page and try again.",
        vi="Biểu mẫu này đã hết hạn hoặc không đến từ trang này. Hãy tải lại trang và thử lại.",
    )


def unauthenticated(realm: str = "fieldcase") -> Problem:
    """401.1: credentials are missing or wrong."""
    return Problem(
        "401.1",
        "Authentication is required.",
        vi="Cần đăng nhập.",
        headers={"WWW-Authenticate": f'Basic realm="{realm}", charset="UTF-8"'},
    )


def login_failed() -> Problem:
    """401.2: a web sign-in with a wrong user name or password (never says which)."""
    return Problem("401.2", "Wrong user name or password.", vi="Sai tên đăng nhập hoặc mật khẩu.")


def forbidden(
    message: str = "You are not allowed to do this.",
    vi: str = "Bạn không được phép làm việc này.",
) -> Problem:
    """403.1: the caller is known but may not do this."""
    return Problem("403.1", message, vi=vi)


def form_not_assigned(form_id: str) -> Problem:
    """403.2: a collector sent or asked for a form not assigned to it."""
    return Problem(
        "403.2",
        f"Form {form_id!r} is not assigned to this collector.",
        vi=f"Biểu mẫu {form_id!r} không được giao cho người thu thập này.",
    )


def not_found(what: str = "The page") -> Problem:
    """404.1: nothing here, or nothing the caller may know about."""
    return Problem("404.1", f"{what} was not found.")


def form_not_found(form_id: str) -> Problem:
    """404.2: the form id is unknown."""
    return Problem(
        "404.2",
        f"Form {form_id!r} is not published on this server.",
        vi=f"Biểu mẫu {form_id!r} chưa được công bố trên máy chủ này.",
    )


def method_not_allowed() -> Problem:
    """405.1."""
    return Problem(
        "405.1", "This method is not allowed here.", vi="Phương thức này không được phép ở đây."
    )


def xml_differs(instance_id: str) -> Problem:
    """409.1: a different submission was already received under this instanceID."""
    return Problem(
        "409.1",
        f"A different submission with instanceID {instance_id} was already "
        "received and is kept safe; this one was not stored.",
        vi=f"Một bản gửi khác có cùng instanceID {instance_id} đã được nhận trước đó và vẫn "
        "được giữ an toàn; bản này không được lưu.",
    )


def already_exists(what: str) -> Problem:
    """409.2: a unique name is taken."""
    return Problem("409.2", f"{what} already exists.")


def too_large(limit: int) -> Problem:
    """413.1: a part or the whole request exceeds the configured limit."""
    megabytes = limit // (1024 * 1024)
    return Problem(
        "413.1",
        f"The submission is too large: the limit is {megabytes} MB per file.",
        vi=f"Bản gửi quá lớn: giới hạn là {megabytes} MB cho mỗi tệp.",
    )


def unsupported_media_type(message: str, vi: str | None = None) -> Problem:
    """415.1."""
    return Problem("415.1", message, vi=vi)


def too_many_attempts(retry_after: int) -> Problem:
    """429.1: sign-in back-off: too many failed attempts for this name from this client, or
    from this client across names (the same answer whether or not the name exists)."""
    # Both languages: ODK Collect shows this text as it is (the web view translates by code).
    return Problem(
        "429.1",
        "Thử quá nhiều lần. Hãy thử lại sau. / Too many attempts. Try again later.",
        vi="Thử quá nhiều lần. Hãy thử lại sau.",
        headers={"Retry-After": str(retry_after)},
    )


def too_many_searches(retry_after: int) -> Problem:
    """429.2: a user searched cases more often than the hourly limit allows."""
    return Problem(
        "429.2",
        "Too many searches in the last hour. Try again later.",
        vi="Tìm kiếm quá nhiều lần trong một giờ qua. Hãy thử lại sau.",
        headers={"Retry-After": str(retry_after)},
    )


def consent_withdrawn() -> Problem:
    """451.1: the person has withdrawn (or never validly given) consent to case management,
    so their identifying information is not shown or exported (Law 53/2024 Art 3(10), PDPL
    91/2025). Bilingual: it is shown by the web view, the JSON API and the CLI alike."""
    return Problem(
        "451.1",
        "Người này đã rút lại (hoặc chưa đồng ý hợp lệ) việc ghi nhận thông tin cá nhân để "
        "quản lý trường hợp: không được xem thông tin định danh. / This person has withdrawn "
        "(or never validly given) consent to case management: their identifying information "
        "may not be shown.",
    )


def internal_error() -> Problem:
    """500.1: a bug; details go to the log, never to the client."""
    return Problem(
        "500.1",
        "Something went wrong on the server. The error has been logged.",
        vi="Máy chủ gặp lỗi. Lỗi đã được ghi lại.",
    )


def sign_in_busy() -> Problem:
    """503.2: too many password checks are waiting in this process; nothing was checked."""
    return Problem(
        "503.2",
        "Máy chủ đang bận kiểm tra các lượt đăng nhập khác. Hãy thử lại sau giây lát. / "
        "The server is busy checking other sign-ins. Try again in a moment.",
        vi="Máy chủ đang bận kiểm tra các lượt đăng nhập khác. Hãy thử lại sau giây lát.",
        headers={"Retry-After": "5"},
    )


def storage_unavailable() -> Problem:
    """503.1: the blob store or database cannot take writes (disk full, database down)."""
    return Problem(
        "503.1",
        "The server cannot store submissions right now. Nothing was stored; send again later.",
        vi="Máy chủ hiện không lưu được bản gửi. Chưa có gì được lưu; hãy gửi lại sau.",
        headers={"Retry-After": "60"},
    )


def not_supported(feature: str) -> Problem:
    """501.1: an OData feature or option the /v1 API does not offer (as ODK Central says it)."""
    return Problem("501.1", f"The requested feature {feature} is not supported by this server.")
