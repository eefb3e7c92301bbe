"""TOML + environment -> validated, frozen settings.

A bad key fails early with one line naming the key and the problem; nothing is
written before settings load. Secrets never live here: they are read from the
environment (or a `.env` file) by the part that needs them.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import tomllib
from abc import abstractmethod
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from listener.core.errors import ConfigError
from listener.core.sources import SourceTraits, registered_sources, source_names, traits_of

DEFAULT_CONFIG = Path("listener.toml")
DEFAULT_STORE = Path("data/listener.duckdb")
DEMO_CONFIG = Path("demo/listener.toml")  # what `listener demo` writes by default

Minutes = Annotated[int, Field(ge=1, le=7 * 24 * 60)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _query_or_terms(query: str | None, terms: list[str], excludes: list[str], terms_key: str) -> None:
    """A topic is a query or a term list (docs/queries.md), never both."""
    if query is not None and (terms or excludes):
        raise ValueError(f"give 'query' or '{terms_key}', not both (write exclusions as NOT ... in the query)")
    if query is None and not terms:
        raise ValueError(f"needs a 'query' (or a '{terms_key}' list)")
    if query is not None and not query.strip():
        raise ValueError("'query' is empty")


class Competitor(_Strict):
    name: str = Field(min_length=1)
    query: str | None = None  # a topic query (docs/queries.md)
    terms: list[str] = []  # the older term list: words, "phrases", prefixes*, -exclusions
    exclude_terms: list[str] = []
    # the competitor's own handles per source: their posts are its activity, not mentions by others
    own_accounts: OwnAccounts = Field(default_factory=lambda: OwnAccounts())

    @model_validator(mode="after")
    def _one_definition(self) -> Competitor:
        _query_or_terms(self.query, self.terms, self.exclude_terms, "terms")
        return self


class TrackedTopic(_Strict):
    """`[[organization.topics]]`: a theme to follow beside the brands (kind `term`)."""

    name: str = Field(min_length=1)
    query: str = Field(min_length=1)
    search: bool = True  # also ask the platforms for it (false: only tag what the brand searches bring)


class _BySource(_Strict):
    """A model built from the source catalogue: one field per registered source, unknown ones refused."""


class _PerSource(_Strict):
    """A table keyed by source name (`[sources]`, `[organization.own_accounts]`).

    Its keys come from the source catalogue (listener.core.sources), which connectors.registry
    fills after this module is imported: each validation checks the keys against a `_BySource`
    model built from the catalogue of that moment, and the values are kept as extra fields.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    @classmethod
    @abstractmethod
    def field_for(cls, source: SourceTraits) -> tuple[Any, Any]:
        """The (type, default) of one source's key in this table."""

    @classmethod
    def checking_model(cls) -> type[_BySource]:
        return _by_source_model(cls, registered_sources())

    def _tables(self) -> dict[str, Any]:
        return dict(self.__pydantic_extra__ or {})


@functools.lru_cache(maxsize=32)
def _by_source_model(table: type[_PerSource], catalogue: tuple[SourceTraits, ...]) -> type[_BySource]:
    """Cached per catalogue: registering a source (a test's, a plugin's) builds a new one."""
    fields = {source.name: table.field_for(source) for source in catalogue}
    return create_model(f"{table.__name__}BySource", __base__=_BySource, **fields)  # type: ignore[call-overload]


class OwnAccounts(_PerSource):
    """`[organization.own_accounts]`: per source, the organization's handles (RSS: author names)."""

    @model_validator(mode="before")
    @classmethod
    def _registered_sources(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # an OwnAccounts already, or something pydantic refuses with its own message
        catalogue = registered_sources()
        checked = _by_source_model(cls, catalogue).model_validate(data)
        # each source's rule writes its handles as the loader keys authors, so `is_own` is a join
        return {
            source.name: [key for key in map(source.own_handle, getattr(checked, source.name)) if key]
            for source in catalogue
        }

    @classmethod
    def field_for(cls, source: SourceTraits) -> tuple[Any, Any]:
        return list[str], []

    def for_source(self, source: str) -> list[str]:
        return list(self._tables().get(source, []))

    def by_source(self) -> dict[str, list[str]]:
        """Every source with at least one own account, in catalogue order."""
        return {name: list(handles) for name, handles in self._tables().items() if handles}


Competitor.model_rebuild()  # its own_accounts type is defined after it


class Organization(_Strict):
    name: str = Field(min_length=1)
    objectives: list[str] = []
    query: str | None = None  # the brand topic's query (docs/queries.md)
    brand_terms: list[str] = []  # the older term list
    exclude_terms: list[str] = []
    tracked_terms: list[str] = []
    topics: list[TrackedTopic] = []
    competitors: list[Competitor] = []
    own_accounts: OwnAccounts = Field(default_factory=OwnAccounts)

    @model_validator(mode="after")
    def _one_definition(self) -> Organization:
        _query_or_terms(self.query, self.brand_terms, self.exclude_terms, "brand_terms")
        names = [self.name, *(c.name for c in self.competitors), *(t.name for t in self.topics)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"topic name {twice[0]!r} is used twice (brand, competitors and topics need one each)")
        return self


class DuckLake(_Strict):
    """`[store.ducklake]`: a DuckLake catalog (PostgreSQL) plus a data directory, shared by several workers."""

    catalog: str = Field(min_length=1)  # after "ducklake:", e.g. "postgres:dbname=listener host=db user=listener"
    data_path: str = Field(min_length=1)  # Parquet files: a folder (relative to the config) or s3://...
    commit_retries: int = Field(default=8, ge=0, le=100)  # re-run a unit of work that lost a write conflict

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, catalog: str) -> str:
        if "password" in catalog.lower():
            raise ValueError("put the catalog password in PGPASSWORD (environment or .env), not in the config")
        if not catalog.startswith(("postgres:", "sqlite:", "duckdb:", "mysql:")):
            raise ValueError(
                'must name its database, e.g. "postgres:dbname=listener host=db user=listener" '
                "(or sqlite:/duckdb: and a file for a single machine)"
            )
        return catalog


class Store(_Strict):
    backend: Literal["duckdb", "ducklake"] = "duckdb"
    ducklake: DuckLake | None = None  # required when backend = "ducklake"
    path: Path = DEFAULT_STORE
    snapshot_dir: Path | None = None  # `listener snapshot` output; default <store dir>/snapshot
    spool_dir: Path | None = None  # fetched pages wait here for the store; default <store dir>/<name>.spool
    lock_timeout_seconds: float = Field(default=300, ge=0, le=86400)  # wait for a reader to let go

    @model_validator(mode="after")
    def _backend_complete(self) -> Store:
        if self.backend == "ducklake" and self.ducklake is None:
            raise ValueError('backend = "ducklake" needs a [store.ducklake] section with catalog and data_path')
        return self


class SourceBase(_Strict):
    """What every `[sources.<name>]` table has; each source's own model (connectors) adds the rest."""

    enabled: bool = False
    poll_interval_minutes: Minutes = 60
    overlap_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 15
    # wall time for one source's whole fetch; checked between pages (connectors.base.FetchDeadline)
    max_fetch_seconds: Annotated[float, Field(gt=0, le=7 * 24 * 3600)] = 3600.0


SectionT = TypeVar("SectionT", bound=SourceBase)


class Sources(_PerSource):
    """`[sources.<name>]`: one table per registered source, each checked by that source's model."""

    @model_validator(mode="before")
    @classmethod
    def _registered_sources(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data  # a Sources already, or something pydantic refuses with its own message
        return dict(cls.checking_model().model_validate(data))

    @classmethod
    def field_for(cls, source: SourceTraits) -> tuple[Any, Any]:
        return source.settings_model, Field(default_factory=source.settings_model)

    def section(self, name: str, model: type[SectionT]) -> SectionT:
        """`[sources.<name>]` as `model`; its defaults for a source registered after these settings loaded."""
        value = self._tables().get(name)
        if value is None:
            traits = traits_of(name)
            if traits is None:
                raise ConfigError(f"unknown source '{name}' (available: {', '.join(source_names())})")
            value = traits.settings_model()
        if not isinstance(value, model):
            raise TypeError(f"[sources.{name}] is checked by {type(value).__name__}, not {model.__name__}")
        return value

    def enabled(self) -> list[str]:
        return [name for name in source_names() if self.section(name, SourceBase).enabled]


class Smtp(_Strict):
    host: str = "localhost"
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 30.0


class Digest(_Strict):
    recipients: list[str] = []
    sender: str = "listener@localhost"
    smtp: Smtp = Smtp()


KPI_NAMES = (
    "share_of_voice",
    "net_sentiment",
    "mentions",
    "engaged_authors",
    "engagement",
    "response_rate",
    "median_response_minutes",
)


class Baseline(_Strict):
    start: date
    end: date


class Analytics(_Strict):
    sentiment_workers: Annotated[int, Field(ge=0, le=64)] = 0  # 0 = one per core
    rolling_days: Annotated[int, Field(ge=1, le=365)] = 28
    top_influencers: Annotated[int, Field(ge=1, le=1000)] = 50
    spike_window_days: Annotated[int, Field(ge=7, le=365)] = 28
    spike_threshold: Annotated[float, Field(gt=0, le=50)] = 3.5
    kpis: Annotated[list[Literal[KPI_NAMES]], Field(max_length=5)] = [  # type: ignore[valid-type]
        "share_of_voice",
        "net_sentiment",
        "engaged_authors",
        "response_rate",
    ]
    baseline: Baseline | None = None  # default: the first 28 days with data, recorded once
    lexicon: dict[str, Annotated[float, Field(ge=-4, le=4)]] = {}  # domain overrides of VADER's lexicon
    detect_language: bool = (
        True  # fill mentions.lang where the source gave none (fastText lite model, offline; ~30k texts/s)
    )
    # Copies (docs/analytics-metrics.md#duplicates): posts of the same text, or of word bigrams at
    # least this similar (Jaccard), within the window form one cluster that counts once
    count_duplicates: bool = False  # true: every copy counts (mentions = raw_mentions)
    duplicate_window_days: Annotated[int, Field(ge=1, le=90)] = 7
    near_duplicate_threshold: Annotated[float, Field(ge=0.5, le=1.0)] = 0.7
    # Coordinated amplification: at least this many distinct accounts posting the same text or
    # link within this many seconds of the first (docs/analytics-metrics.md#coordinated-amplification)
    coordination_window_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    coordination_min_accounts: Annotated[int, Field(ge=2, le=1000)] = 3
    # Sample sizes (docs/analytics-metrics.md#sample-sizes): the digest marks a rate or average
    # from fewer than min_sample mentions; a spike needs min_alert_mentions that day; maturity's
    # organizational model and path need min_own_posts own posts in the window
    min_sample: Annotated[int, Field(ge=1, le=100_000)] = 30
    min_alert_mentions: Annotated[int, Field(ge=1, le=100_000)] = 10
    min_own_posts: Annotated[int, Field(ge=1, le=100_000)] = 20
    # "Today" for analyze, maturity and digest: a store replayed as of a fixed day (the demo's); default: the real date
    as_of: date | None = None

    @field_validator("lexicon")
    @classmethod
    def _single_words(cls, lexicon: dict[str, float]) -> dict[str, float]:
        for word in lexicon:
            if not word.strip() or any(ch.isspace() for ch in word.strip()):
                raise ValueError(f"lexicon overrides are single words; {word!r} is not")
        return lexicon


class Maturity(_Strict):
    window_days: Annotated[int, Field(ge=7, le=730)] = 90
    # metric name -> threshold; names are checked against analytics.maturity.classifier's metrics
    thresholds: dict[str, float] = {}


class Schedule(_Strict):
    """`[schedule]`, the one definition the scheduler reads (`settings.schedule`). Its cron expressions and
    time zone are checked by listener/ops/scheduler.py when `listener schedule` starts, not here, so a
    typo in them never stops the other commands."""

    analyze_cron: str = "15 3 * * *"  # nightly `analyze` + snapshot (crontab: m h dom mon dow; 0/7 = Sunday)
    digest_cron: str = "30 6 * * 1"  # weekly `digest --send`
    timezone: str = "UTC"  # IANA name for both cron expressions
    jitter_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    misfire_grace_seconds: Annotated[int, Field(ge=0, le=7 * 24 * 3600)] = 600
    heartbeat_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    heartbeat_file: Path | None = None  # default: scheduler-heartbeat.json next to the store


Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
_QUIET = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# apprise URL schemes that can address a service on your own network without a secret in the URL;
# every other service's URL (slack://, discord://, msteams://, ...) carries its token
_PLAIN_SCHEMES = {"json", "jsons", "xml", "xmls", "form", "forms", "ntfy", "ntfys", "mailto", "mailtos"}
_SECRET_PARAMS = {"token", "key", "apikey", "api_key", "secret", "password", "pass", "pwd", "auth", "access_token"}


class AlertRule(_Strict):
    """`[[alerts.rules]]`: when to raise an alert (docs/alerts.md)."""

    name: str = Field(min_length=1, max_length=80)
    kind: Literal["volume", "negative", "query", "influencer", "coordinated"]
    topic: str | None = None  # a brand, competitor or tracked topic name; none: every topic
    query: str | None = None  # kind "query": the mentions that count (docs/queries.md)
    min_mentions: Annotated[int, Field(ge=1, le=1_000_000)] = 5  # kind "query"
    window_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)] = 60  # kind "query"
    min_followers: Annotated[int | None, Field(ge=0)] = None  # kind "influencer"
    top_n: Annotated[int | None, Field(ge=1, le=1000)] = None  # kind "influencer"
    severity: Severity = "warning"
    cooldown_minutes: Annotated[int, Field(ge=0, le=30 * 24 * 60)] = 240
    quiet_hours: str | None = None  # "22:00-07:00" in [schedule] timezone: held, sent when they end

    @model_validator(mode="after")
    def _settings_of_its_kind(self) -> AlertRule:
        if self.kind == "query" and not self.query:
            raise ValueError(f"alert rule {self.name!r}: kind 'query' needs query = \"...\"")
        if self.kind != "query" and self.query:
            raise ValueError(f"alert rule {self.name!r}: query is only for kind 'query'")
        if self.query:
            from listener.core.query import parse_query  # a malformed query: its caret message, exit 2

            parse_query(self.query, f"alert rule {self.name!r}")
        if self.kind == "influencer" and self.min_followers is None and self.top_n is None:
            raise ValueError(f"alert rule {self.name!r}: kind 'influencer' needs min_followers or top_n")
        if self.quiet_hours is not None and not _QUIET.fullmatch(self.quiet_hours.strip()):
            raise ValueError(f'alert rule {self.name!r}: quiet_hours must read like "22:00-07:00"')
        return self


class AlertChannel(_Strict):
    """`[[alerts.channels]]`: where alerts go, as an apprise URL (https://github.com/caronc/apprise/wiki)."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    url: str | None = None  # only a URL without a secret (a webhook on your own network)
    url_env: str | None = None  # the environment variable that holds the URL (with its token)
    min_severity: Severity = "info"

    @model_validator(mode="after")
    def _one_url_without_secrets(self) -> AlertChannel:
        if (self.url is None) == (self.url_env is None):
            raise ValueError(f"alert channel {self.name!r}: give url or url_env (one of them)")
        if self.url_env is not None and not _ENV_NAME.fullmatch(self.url_env):
            raise ValueError(f"alert channel {self.name!r}: url_env must be an environment variable name")
        if self.url is not None and url_holds_secret(self.url):
            # the URL itself is never repeated: it may be the secret
            raise ValueError(
                f"alert channel {self.name!r}: this url carries a token or password; put it in an environment "
                "variable (or .env) and name that variable with url_env"
            )
        return self


def url_holds_secret(url: str) -> bool:
    """True when an apprise URL carries a credential: a service whose URL is its token, a password, a token parameter."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in _PLAIN_SCHEMES:
        return True
    authority = rest.split("/", 1)[0].split("?", 1)[0]
    if "@" in authority and ":" in authority.rpartition("@")[0]:
        return True  # user:password@host
    query = rest.partition("?")[2]
    names = {part.partition("=")[0].strip().lower() for part in query.split("&") if part}
    return bool(names & _SECRET_PARAMS)


class Alerts(_Strict):
    rules: list[AlertRule] = []
    channels: list[AlertChannel] = []
    lookback_hours: Annotated[int, Field(ge=1, le=30 * 24)] = 48  # spikes and influencer posts this recent raise
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 10  # per (alert, channel), one per evaluation

    @model_validator(mode="after")
    def _unique_names(self) -> Alerts:
        for what, names in (("rule", [r.name for r in self.rules]), ("channel", [c.name for c in self.channels])):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"alert {what} name {twice[0]!r} is used twice")
        return self


class Settings(_Strict):
    organization: Organization
    store: Store = Store()
    sources: Sources = Field(default_factory=Sources)
    digest: Digest = Digest()
    analytics: Analytics = Analytics()
    maturity: Maturity = Maturity()
    schedule: Schedule = Schedule()
    alerts: Alerts = Alerts()
    config_path: Path | None = None

    @model_validator(mode="after")
    def _alert_topics_exist(self) -> Settings:
        org = self.organization
        topics = [org.name, *(c.name for c in org.competitors), *(t.name for t in org.topics), *org.tracked_terms]
        for rule in self.alerts.rules:
            if rule.topic is not None and rule.topic not in topics:
                close = difflib.get_close_matches(rule.topic, topics, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (topics: {', '.join(map(repr, topics))})"
                raise ValueError(f"alert rule {rule.name!r}: unknown topic {rule.topic!r}{hint}")
        return self

    @property
    def store_path(self) -> Path:
        return self.store.path

    @property
    def has_store(self) -> bool:
        """False only when the store is a DuckDB file not created yet (a lake is assumed to exist)."""
        return self.store.backend == "ducklake" or self.store.path.exists()

    @property
    def spool_dir(self) -> Path:
        return self.store.spool_dir or self.store.path.parent / f"{self.store.path.stem}.spool"

    def today(self) -> date:
        """The UTC day that analyze, maturity and digest treat as today: `[analytics] as_of`, else the real date."""
        return self.analytics.as_of or datetime.now(UTC).date()


def resolve_config_path(explicit: str | os.PathLike[str] | None) -> Path:
    """--config, then LISTENER_CONFIG, then ./listener.toml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("LISTENER_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    config_path = resolve_config_path(path)
    if config_path.is_dir():
        raise ConfigError(f"{config_path}: is a folder, not a config file (give the .toml file's path)")
    if not config_path.is_file():
        demo = DEMO_CONFIG if DEMO_CONFIG.is_file() and config_path != DEMO_CONFIG else None
        raise ConfigError(
            f"{config_path}: config file not found (use --config, set LISTENER_CONFIG, "
            "or copy config/listener.example.toml to ./listener.toml"
            + (f"; the demo's store: --config {demo}" if demo else "")
            + ")"
        )
    try:
        text = config_path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: not valid TOML: {_toml_position(str(exc), text)}") from None
    except UnicodeDecodeError as exc:
        line = config_path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{config_path}: not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at line {line} (save the file as UTF-8)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read the config file: {exc.strerror or exc}") from None
    return settings_from_dict(data, config_path)


def _toml_position(message: str, text: str) -> str:
    """tomllib says '(at end of document)' for an unclosed bracket or string: name the last line instead."""
    if "(at end of document)" in message:
        lines = text.splitlines() or [""]
        where = (
            f"(at line {len(lines)}, column {len(lines[-1]) + 1}: the end of the file; "
            "look for an unclosed bracket or quote above)"
        )
        return message.replace("(at end of document)", where)
    return message


def settings_from_dict(data: dict[str, Any], config_path: Path | None = None) -> Settings:
    """Validate a parsed config; relative store paths resolve against the config file."""
    where = f"{config_path}: " if config_path else ""
    try:
        settings = Settings.model_validate({**data, "config_path": config_path})
    except ValidationError as exc:
        raise ConfigError(where + _first_problem(exc)) from None
    if "config_path" in data:
        raise ConfigError(where + "unknown key 'config_path'")
    return _anchor_store(settings, config_path)


def _anchor_store(settings: Settings, config_path: Path | None) -> Settings:
    """LISTENER_STORE overrides [store].path (containers); relative paths sit next to the config."""
    override = os.environ.get("LISTENER_STORE")
    store_path = Path(override).expanduser() if override else settings.store.path.expanduser()
    if not store_path.is_absolute() and config_path is not None:
        store_path = config_path.resolve().parent / store_path
    anchored: dict[str, Any] = {"path": store_path}
    lake = settings.store.ducklake
    if lake is not None and "://" not in lake.data_path and config_path is not None:
        data_path = Path(lake.data_path).expanduser()
        if not data_path.is_absolute():
            anchored["ducklake"] = lake.model_copy(update={"data_path": str(config_path.resolve().parent / data_path)})
    for key in ("snapshot_dir", "spool_dir"):
        folder = getattr(settings.store, key)
        if folder is not None:
            folder = folder.expanduser()
            if not folder.is_absolute() and config_path is not None:
                folder = config_path.resolve().parent / folder
        anchored[key] = folder
    return settings.model_copy(update={"store": settings.store.model_copy(update=anchored)})


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    key = _dotted(loc)
    if error["type"] == "extra_forbidden":
        return f"unknown key '{key}'{_suggestion(loc)}"
    if error["type"] == "missing":
        return f"missing required key '{key}'"
    message = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    secret = isinstance(got, str) and "password" in got.lower()  # never echo a credential
    shown = "" if isinstance(got, (dict, list)) or got is None or secret else f" (got {got!r})"
    return f"'{key}': {message}{shown}"


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _suggestion(loc: list[str]) -> str:
    model: type[BaseModel] | None = Settings
    for part in loc[:-1]:
        if model is None or part.isdigit():
            continue
        field = _checked_fields(model).model_fields.get(part)
        model = _model_of(field.annotation) if field else None
    if model is None:
        return ""
    model = _checked_fields(model)
    close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if issubclass(model, _BySource):  # a misspelt source name far from every known one
        return f" (known sources: {', '.join(model.model_fields)})"
    return ""


def _checked_fields(model: type[BaseModel]) -> type[BaseModel]:
    """The model whose fields are the keys a table accepts (for a table keyed by source, the catalogue's)."""
    return model.checking_model() if issubclass(model, _PerSource) else model


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def load_dotenv_file(config_path: Path | None) -> None:
    """Secrets: a `.env` next to the config (or in the cwd) fills missing variables."""
    from dotenv import load_dotenv

    for candidate in {Path(".env"), *([config_path.parent / ".env"] if config_path else [])}:
        if candidate.is_file():
            load_dotenv(candidate, override=False)
