"""Typed settings, read only from `FIELDCASE_*` environment variables.

Every setting is declared once in `SETTINGS` (name, default, help). docs/configuration.md must
list each of them; a test fails when it does not. Secrets also accept a `_FILE` variant naming a
file that holds the value (as container secrets are mounted), which wins over the plain variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from server.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """One environment variable the server reads."""

    name: str
    default: str | None
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("FIELDCASE_DATA_DIR", "var", "Directory holding everything a deployment keeps."),
    Setting(
        "FIELDCASE_DATABASE_URL", None, "SQLAlchemy URL; default SQLite in the data directory."
    ),
    Setting(
        "FIELDCASE_SECRET_KEY",
        None,
        "Signs session cookies; generated once into the data directory when unset.",
        secret=True,
    ),
    Setting("FIELDCASE_KEY_PASSPHRASE", None, "Unlocks the server's private key.", secret=True),
    Setting(
        "FIELDCASE_AUDIT_KEY",
        None,
        "Keys the audit log's hash chain (at least 32 characters); kept out of the database. "
        "Generated once into the data directory when unset.",
        secret=True,
    ),
    Setting(
        "FIELDCASE_ADMIN_PASSWORD",
        None,
        "First admin's password for `fieldcase init`; generated and printed once when unset.",
        secret=True,
    ),
    Setting("FIELDCASE_ADMIN_USERNAME", "admin", "First admin's user name for `fieldcase init`."),
    Setting(
        "FIELDCASE_PUBLIC_URL",
        "http://127.0.0.1:8080",
        "Base URL phones and browsers use "
        "to reach the server (goes into collector URLs and QR codes). Unset: the form list, "
        "manifests and collectors page use the address each request came to.",
    ),
    Setting("FIELDCASE_HOST", "127.0.0.1", "Address `fieldcase serve` listens on."),
    Setting("FIELDCASE_PORT", "8080", "Port `fieldcase serve` listens on."),
    Setting("FIELDCASE_WORKERS", "2", "Worker processes of the WSGI server (about one per core)."),
    Setting(
        "FIELDCASE_THREADS",
        "32",
        "Threads per worker process. A request gets a thread once it has arrived whole; "
        "concurrent requests of one process share statements and commits, so more threads "
        "than cores pay off (docs/performance.md). The PostgreSQL pool is sized to them.",
    ),
    Setting(
        "FIELDCASE_READ_TIMEOUT",
        "10",
        "Seconds a client has to send a request from its first byte, before the pace below "
        "buys it more time; a client that falls behind is disconnected.",
    ),
    Setting(
        "FIELDCASE_MIN_READ_RATE",
        "500",
        "Bytes per second: each this many bytes received give a request one more second.",
    ),
    Setting(
        "FIELDCASE_MAX_PART_BYTES",
        str(100 * 1024 * 1024),
        "Largest accepted submission part, in bytes (413 above it).",
    ),
    Setting(
        "FIELDCASE_MAX_REQUEST_BYTES",
        str(250 * 1024 * 1024),
        "Largest accepted request body, in bytes; also sent as X-OpenRosa-Accept-Content-Length.",
    ),
    Setting(
        "FIELDCASE_SECURE_COOKIES", "false", "Mark session cookies Secure (set true behind HTTPS)."
    ),
    Setting(
        "FIELDCASE_SEARCHES_PER_HOUR",
        "60",
        "Case searches one user may make in any hour (429 above it); counted in the database.",
    ),
    Setting("FIELDCASE_LOG_LEVEL", "INFO", "Logging level (DEBUG, INFO, WARNING, ERROR)."),
    Setting(
        "FIELDCASE_LOG_FORMAT",
        "text",
        "How log lines are written on standard error: `text` (one line per event) or `json` "
        "(one JSON object per line).",
    ),
    Setting(
        "FIELDCASE_READY_MIN_FREE_MB",
        "1024",
        "Free megabytes the data directory's disk must keep for /readyz to answer ready.",
    ),
    Setting(
        "FIELDCASE_METRICS",
        "false",
        "Serve Prometheus metrics at /metrics (to the addresses below, and with the token "
        "when one is set).",
    ),
    Setting(
        "FIELDCASE_METRICS_ALLOW",
        "127.0.0.1, ::1",
        "Addresses or networks that may read /metrics.",
    ),
    Setting(
        "FIELDCASE_METRICS_TOKEN",
        None,
        "When set, /metrics also asks for `Authorization: Bearer <token>`.",
        secret=True,
    ),
    Setting("FIELDCASE_PROJECT_NAME", "fieldcase", "Project name shown in ODK Collect."),
    Setting(
        "FIELDCASE_FORM_MAX_ROWS",
        "20000",
        "Most rows one sheet of an uploaded XLSForm may have (checked before it is read).",
    ),
    Setting(
        "FIELDCASE_FORM_MAX_UNPACKED_BYTES",
        str(32 * 1024 * 1024),
        "Most bytes an uploaded XLSForm may unpack to (checked from the zip directory).",
    ),
    Setting(
        "FIELDCASE_RETENTION_YEARS",
        "5",
        "Years after a case is closed before `fieldcase retention run` erases its identifying "
        "data (docs/privacy.md: set it to the period the province decides).",
    ),
    Setting(
        "FIELDCASE_TRUSTED_PROXIES",
        None,
        "Reverse proxies whose X-Forwarded-For is believed: a number of proxy hops, or a list "
        "of proxy addresses or networks. Empty: the client address is the connection's.",
    ),
    Setting(
        "FIELDCASE_REFERRAL_OVERDUE_DAYS",
        "14",
        "Days after which a referral to a service with no outcome is listed as overdue.",
    ),
    Setting(
        "FIELDCASE_MATCH_KEY",
        None,
        "Secret keying the person match keys (at least 32 characters), the same on every "
        "cooperating server of one installation; generated once into the data directory "
        "(`match_key`) when unset.",
        secret=True,
    ),
    Setting(
        "FIELDCASE_PROVINCE_HOTLINES",
        None,
        "Each province's own hotline shown on the phones of that province, beside the national "
        "111: `22=0203 3xxx xxx; 01=...` (province code = number). Empty: 111 only.",
    ),
    Setting(
        "FIELDCASE_REPORT_CUTOFF_DAY",
        "14",
        "Day of the month report data are cut off (1-28): a window runs from the day after one "
        "cut-off to the next, so 14 gives 15/12-14/6 for the six-month report (ND 09/2019).",
    ),
    Setting(
        "FIELDCASE_REPORT_DUE_DATES",
        None,
        "Due date of each report, over the defaults `Y=12-10, H1=06-10, H2=12-10, Q1=03-10, "
        "Q2=06-10, Q3=09-10, Q4=12-10`: MM-DD in the year the period ends, +MM-DD the year after.",
    ),
    Setting(
        "FIELDCASE_ODATA_BASIC",
        "false",
        "true (1): the OData feed of the /v1 API also takes HTTP Basic from web accounts "
        "(Excel, Power BI), counted by the sign-in back-off and audited. false: bearer only.",
    ),
    Setting(
        "FIELDCASE_FEED_BODIES",
        "true",
        "true (1): each submission's OData row is rendered and stored once it is processed, so "
        "an analyst's first read of it costs what every read costs. false: rendered at the "
        "first read (no extra CPU at ingest, no stored copy until then).",
    ),
    Setting(
        "FIELDCASE_FIRST_VISIT_DAYS",
        "30",
        "Days after reception the first follow-up visit of a case is due, when no visit has "
        "planned one.",
    ),
    Setting(
        "FIELDCASE_NEXT_VISIT_DAYS",
        "90",
        "Days after a follow-up visit the next one is due, when that visit planned no date.",
    ),
    Setting(
        "FIELDCASE_CASELIST_CLOSED_GRACE_DAYS",
        "14",
        "Days a closed case stays on the phones' case list (cases.csv), shown closed, before "
        "it drops off; 0 drops it at once.",
    ),
    Setting(
        "FIELDCASE_CASELIST_INITIALS",
        "false",
        "Add the person's initials to the label of a case on the phones' case list, for persons "
        "who consent to follow-up contact (true/false). Off: case code, commune, due date only.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def _read(env: Mapping[str, str], name: str) -> str | None:
    setting = _BY_NAME[name]
    if setting.secret:
        file_name = env.get(name + "_FILE")
        if file_name:
            try:
                return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read {file_name}: {exc.strerror}") from exc
    value = env.get(name)
    if value is None or value == "":
        return setting.default
    return value


def _int(env: Mapping[str, str], name: str, minimum: int = 1) -> int:
    raw = _read(env, name)
    try:
        value = int(raw or "")
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str) -> bool:
    raw = (_read(env, name) or "").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _cutoff_day(env: Mapping[str, str]) -> int:
    day = _int(env, "FIELDCASE_REPORT_CUTOFF_DAY")
    if day > 28:
        raise ConfigError("FIELDCASE_REPORT_CUTOFF_DAY must be 1 to 28 (every month has it)")
    return day


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DUE_ITEM = re.compile(r"^\s*(Y|H1|H2|Q[1-4])\s*=\s*\+?(\d{2})-(\d{2})\s*$", re.IGNORECASE)
_HOTLINE_NUMBER = re.compile(r"^\+?[0-9][0-9 .-]{1,30}[0-9]$")


def parse_province_hotlines(raw: str | None) -> dict[str, str]:
    """`"22=1800 1234; 01=024 1234 5678"` as {province code: number}; ConfigError when wrong."""
    hotlines: dict[str, str] = {}
    for item in (raw or "").split(";"):
        if not item.strip():
            continue
        province, _, number = (part.strip() for part in item.partition("="))
        if not re.fullmatch(r"[0-9]{2}", province):
            raise ConfigError(
                f"FIELDCASE_PROVINCE_HOTLINES: {province!r} is not a 2-digit province code "
                "(write `22=1800 1234; 01=...`)"
            )
        if not _HOTLINE_NUMBER.match(number):
            raise ConfigError(
                f"FIELDCASE_PROVINCE_HOTLINES: {number!r} (province {province}) is not a phone "
                "number: digits, spaces, dots or dashes, maybe a leading +"
            )
        if province in hotlines:
            raise ConfigError(f"FIELDCASE_PROVINCE_HOTLINES: province {province} is given twice")
        hotlines[province] = " ".join(number.split())
    return hotlines


def parse_networks(name: str, raw: str | None) -> tuple[IPNetwork, ...]:
    """`"127.0.0.1, 10.0.0.0/24"` as networks; ConfigError naming `name` when wrong."""
    networks = []
    for item in re.split(r"[\s,]+", (raw or "").strip()):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or network") from None
    return tuple(networks)


def check_report_due_dates(raw: str | None) -> str | None:
    """The due dates as written when every item reads `PART=MM-DD`; ConfigError otherwise
    (exports/periods.py reads them)."""
    for item in re.split(r"[,;]", raw or ""):
        if not item.strip():
            continue
        found = _DUE_ITEM.match(item)
        if not found or not (1 <= int(found.group(2)) <= 12 and 1 <= int(found.group(3)) <= 31):
            raise ConfigError(
                f"FIELDCASE_REPORT_DUE_DATES: {item.strip()!r} is not PART=MM-DD "
                "(parts Y, H1, H2, Q1..Q4; +MM-DD for the year after the period ends)"
            )
    return raw


@dataclass(frozen=True)
class TrustedProxies:
    """Who may say which client a request comes from (FIELDCASE_TRUSTED_PROXIES).

    Either `hops`: that many proxies stand in front of every request, so the last `hops`
    entries of X-Forwarded-For are theirs to write; or `networks`: a request whose connection
    comes from one of these addresses is from a proxy, which reported its client as the last
    entry of X-Forwarded-For. Neither: X-Forwarded-For is ignored.
    """

    hops: int = 0
    networks: tuple[IPNetwork, ...] = ()

    @property
    def configured(self) -> bool:
        """True when some proxy is trusted."""
        return bool(self.hops or self.networks)

    @classmethod
    def parse(cls, raw: str | None) -> TrustedProxies:
        """`""`/`"0"`: none; `"2"`: two hops; `"127.0.0.1, 10.0.0.0/24"`: those addresses."""
        text = (raw or "").strip()
        if not text or text == "0":
            return cls()
        if text.isdigit():
            hops = int(text)
            if hops > 10:
                raise ConfigError("FIELDCASE_TRUSTED_PROXIES: at most 10 proxy hops")
            return cls(hops=hops)
        networks = []
        for item in re.split(r"[\s,]+", text):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(
                    f"FIELDCASE_TRUSTED_PROXIES: {item!r} is neither a number of hops nor an "
                    "IP address or network"
                ) from None
        return cls(networks=tuple(networks))


def _match_key(raw: str | None) -> str | None:
    if raw is not None and len(raw) < 32:
        raise ConfigError("FIELDCASE_MATCH_KEY must have at least 32 characters")
    return raw


@dataclass(frozen=True)
class Config:
    """The server's settings. Build it with `Config.from_env()`; tests use `replace()`."""

    data_dir: Path
    database_url: str
    secret_key: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    audit_key: str | None = field(default=None, repr=False)
    admin_password: str | None = field(default=None, repr=False)
    admin_username: str = "admin"
    public_url: str = "http://127.0.0.1:8080"
    # False when FIELDCASE_PUBLIC_URL is unset: pages and OpenRosa documents then give the
    # address each request came to (`base_url`), so `serve --port 8411` needs nothing more.
    public_url_configured: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 2
    threads: int = 32
    read_timeout: int = 10
    min_read_rate: int = 500
    max_part_bytes: int = 100 * 1024 * 1024
    max_request_bytes: int = 250 * 1024 * 1024
    secure_cookies: bool = False
    searches_per_hour: int = 60
    log_level: str = "INFO"
    log_format: str = "text"
    ready_min_free_mb: int = 1024
    metrics: bool = False
    metrics_allow: tuple[IPNetwork, ...] = (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    metrics_token: str | None = field(default=None, repr=False)
    project_name: str = "fieldcase"
    form_max_rows: int = 20_000
    form_max_unpacked_bytes: int = 32 * 1024 * 1024
    retention_years: int = 5
    trusted_proxies: TrustedProxies = field(default_factory=TrustedProxies)
    province_hotlines: dict[str, str] = field(default_factory=dict)
    report_cutoff_day: int = 14
    report_due_dates: str | None = None
    referral_overdue_days: int = 14
    match_key: str | None = field(default=None, repr=False)
    odata_basic: bool = False
    feed_bodies: bool = True
    first_visit_days: int = 30
    next_visit_days: int = 90
    caselist_closed_grace_days: int = 14
    caselist_initials: bool = False
    testing: bool = False
    # Answer once stored, then decrypt and project on a background thread of this process.
    background_processing: bool = False
    # Set by `fieldcase serve` for its HTTP workers: answer once stored and do nothing more;
    # the processing process (server/processing_worker.py) finds the submission in the store.
    processing_elsewhere: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read every `FIELDCASE_*` setting, failing with a clear message on a bad value."""
        env = os.environ if env is None else env
        data_dir = Path(_read(env, "FIELDCASE_DATA_DIR") or "var").absolute()
        database_url = _read(env, "FIELDCASE_DATABASE_URL") or sqlite_url(data_dir)
        log_level = (_read(env, "FIELDCASE_LOG_LEVEL") or "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                f"FIELDCASE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {log_level!r}"
            )
        log_format = (_read(env, "FIELDCASE_LOG_FORMAT") or "text").strip().lower()
        if log_format not in ("text", "json"):
            raise ConfigError(f"FIELDCASE_LOG_FORMAT must be text or json, not {log_format!r}")
        public_url = (_read(env, "FIELDCASE_PUBLIC_URL") or "").rstrip("/")
        if not public_url.startswith(("http://", "https://")):
            raise ConfigError("FIELDCASE_PUBLIC_URL must start with http:// or https://")
        audit_key = _read(env, "FIELDCASE_AUDIT_KEY")
        if audit_key is not None and len(audit_key) < 32:
            raise ConfigError("FIELDCASE_AUDIT_KEY must have at least 32 characters")
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            secret_key=_read(env, "FIELDCASE_SECRET_KEY"),
            key_passphrase=_read(env, "FIELDCASE_KEY_PASSPHRASE"),
            audit_key=audit_key,
            admin_password=_read(env, "FIELDCASE_ADMIN_PASSWORD"),
            admin_username=_read(env, "FIELDCASE_ADMIN_USERNAME") or "admin",
            public_url=public_url,
            public_url_configured=bool(env.get("FIELDCASE_PUBLIC_URL")),
            host=_read(env, "FIELDCASE_HOST") or "127.0.0.1",
            port=_int(env, "FIELDCASE_PORT"),
            workers=_int(env, "FIELDCASE_WORKERS"),
            threads=_int(env, "FIELDCASE_THREADS"),
            read_timeout=_int(env, "FIELDCASE_READ_TIMEOUT"),
            min_read_rate=_int(env, "FIELDCASE_MIN_READ_RATE"),
            max_part_bytes=_int(env, "FIELDCASE_MAX_PART_BYTES"),
            max_request_bytes=_int(env, "FIELDCASE_MAX_REQUEST_BYTES"),
            secure_cookies=_bool(env, "FIELDCASE_SECURE_COOKIES"),
            searches_per_hour=_int(env, "FIELDCASE_SEARCHES_PER_HOUR"),
            log_level=log_level,
            log_format=log_format,
            ready_min_free_mb=_int(env, "FIELDCASE_READY_MIN_FREE_MB", minimum=0),
            metrics=_bool(env, "FIELDCASE_METRICS"),
            metrics_allow=parse_networks(
                "FIELDCASE_METRICS_ALLOW", _read(env, "FIELDCASE_METRICS_ALLOW")
            ),
            metrics_token=_read(env, "FIELDCASE_METRICS_TOKEN"),
            project_name=_read(env, "FIELDCASE_PROJECT_NAME") or "fieldcase",
            form_max_rows=_int(env, "FIELDCASE_FORM_MAX_ROWS"),
            form_max_unpacked_bytes=_int(env, "FIELDCASE_FORM_MAX_UNPACKED_BYTES"),
            retention_years=_int(env, "FIELDCASE_RETENTION_YEARS"),
            trusted_proxies=TrustedProxies.parse(_read(env, "FIELDCASE_TRUSTED_PROXIES")),
            province_hotlines=parse_province_hotlines(_read(env, "FIELDCASE_PROVINCE_HOTLINES")),
            report_cutoff_day=_cutoff_day(env),
            report_due_dates=check_report_due_dates(_read(env, "FIELDCASE_REPORT_DUE_DATES")),
            referral_overdue_days=_int(env, "FIELDCASE_REFERRAL_OVERDUE_DAYS"),
            match_key=_match_key(_read(env, "FIELDCASE_MATCH_KEY")),
            odata_basic=_bool(env, "FIELDCASE_ODATA_BASIC"),
            feed_bodies=_bool(env, "FIELDCASE_FEED_BODIES"),
            first_visit_days=_int(env, "FIELDCASE_FIRST_VISIT_DAYS"),
            next_visit_days=_int(env, "FIELDCASE_NEXT_VISIT_DAYS"),
            caselist_closed_grace_days=_int(env, "FIELDCASE_CASELIST_CLOSED_GRACE_DAYS", minimum=0),
            caselist_initials=_bool(env, "FIELDCASE_CASELIST_INITIALS"),
        )

    def with_changes(self, **changes: object) -> Config:
        """A copy with some settings changed (tests, CLI overrides)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def base_url(self, request_root: str) -> str:
        """The base of URLs written into an answer: FIELDCASE_PUBLIC_URL when set, else the
        root of the request being answered (`request_root`, e.g. Flask's `request.host_url`:
        the Host the client used, and the scheme a trusted proxy reported)."""
        if self.public_url_configured or not request_root:
            return self.public_url
        return request_root.rstrip("/")

    @property
    def blob_dir(self) -> Path:
        """Where submission parts and form attachments are kept."""
        return self.data_dir / "blobs"

    @property
    def key_dir(self) -> Path:
        """Where the passphrase-protected server keys are kept."""
        return self.data_dir / "keys"

    @property
    def export_dir(self) -> Path:
        """Where scheduled and requested exports are written."""
        return self.data_dir / "exports"


def sqlite_url(data_dir: Path) -> str:
    """The default store: one SQLite file inside the data directory."""
    return f"sqlite:///{data_dir / 'fieldcase.sqlite3'}"
