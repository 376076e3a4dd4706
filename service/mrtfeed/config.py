"""The service configuration: YAML file (version 1) plus ``MRTFEED_*`` environment overrides.

Why a hand-written loader and not a schema library: the agreed file shape is small and
fixed, every error must name the key path (``sink.kafka.compression: must be one of
...``), unknown keys must be errors (a typo silently falling back to a default is the
worst failure mode for a months-long daemon), and environment overrides must be typed
by the same schema. The schema is the dataclasses below; :func:`load_config` walks them.

Every key is optional; the dataclass defaults are the documented defaults
(``docs/config.md``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from mrtfeed import __version__

__all__ = [
    "CONFIG_VERSION",
    "ENV_PREFIX",
    "Config",
    "ConfigError",
    "FilterSetConfig",
    "config_to_dict",
    "load_config",
    "parse_config",
    "parse_duration",
]

CONFIG_VERSION = 1
ENV_PREFIX = "MRTFEED_"
#: Environment variables with the prefix that are not config overrides.
ENV_RESERVED = frozenset({"MRTFEED_CONFIG"})
DEFAULT_USER_AGENT = f"mrtfeed/{__version__} (+https://github.com/mrtfeed/mrtfeed)"
MASK = "***"


class ConfigError(ValueError):
    """Invalid configuration; ``problems`` lists every ``key.path: message`` found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# -- value types ---------------------------------------------------------------------


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> timedelta:
    """Seconds as a number, or ``90s``, ``15m``, ``6h``, ``1d``; raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("must be a duration (seconds, or like 90s, 15m, 6h)")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    else:
        raise ValueError("must be a duration (seconds, or like 90s, 15m, 6h)")
    if seconds < 0:
        raise ValueError("must not be negative")
    return timedelta(seconds=seconds)


def _format_duration(td: timedelta) -> str:
    s = td.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{int(s // size)}{unit}"
    return f"{s:g}s"


@dataclass(frozen=True)
class StartSpec:
    """``start``: ``now``, ``-6h`` (that long back) or an ISO 8601 timestamp."""

    text: str = "now"
    hours_back: float = 0.0
    at: datetime | None = None

    @classmethod
    def parse(cls, value: object) -> StartSpec:
        if not isinstance(value, str):
            raise ValueError("must be now, -<duration> (like -6h) or an ISO 8601 timestamp")
        text = value.strip()
        if text == "now":
            return cls()
        if text.startswith("-"):
            back = parse_duration(text[1:])
            return cls(text, hours_back=back.total_seconds() / 3600)
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                "must be now, -<duration> (like -6h) or an ISO 8601 timestamp"
            ) from None
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        return cls(text, at=at.astimezone(UTC))


# -- the schema ----------------------------------------------------------------------
# Field metadata: "choices" (allowed values), "min"/"max" (numbers), "nonempty",
# "required" (the key must be given), "pattern", "secret" (masked by --print), "check"
# (extra validator returning an error message or None).


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _url(value: str) -> str | None:
    return None if re.match(r"^https?://[^/\s]+", value) else "must be an http(s) URL"


_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def _topic(value: str) -> str | None:
    if _TOPIC.match(value) and value not in (".", ".."):
        return None
    return "must be a Kafka topic name (letters, digits, '.', '_', '-', at most 249)"


def _host_port(value: str) -> str | None:
    return None if re.match(r"^[^\s:]+:\d{1,5}$", value) else "must be host:port"


@dataclass(frozen=True)
class ArchiveConfig:
    enabled: bool = True
    base_url: str = field(default="", metadata={"check": _url})


@dataclass(frozen=True)
class ArchivesConfig:
    routeviews: ArchiveConfig = ArchiveConfig(True, "https://archive.routeviews.org")
    ris: ArchiveConfig = ArchiveConfig(True, "https://data.ris.ripe.net")


@dataclass(frozen=True)
class CollectorsConfig:
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    refresh_interval: timedelta = field(default=timedelta(hours=6), metadata={"positive": True})


@dataclass(frozen=True)
class FilesConfig:
    ribs: bool = True
    updates: bool = True


@dataclass(frozen=True)
class PollConfig:
    interval: timedelta = field(default=timedelta(seconds=60), metadata={"positive": True})
    jitter: float = field(default=0.2, metadata={"min": 0.0, "max": 1.0})
    grace_period: timedelta = timedelta(seconds=120)


@dataclass(frozen=True)
class HttpClientConfig:
    user_agent: str = ""
    per_host_concurrency: int = field(default=4, metadata={"min": 1})
    timeout: timedelta = field(default=timedelta(seconds=300), metadata={"positive": True})

    @property
    def effective_user_agent(self) -> str:
        return self.user_agent or DEFAULT_USER_AGENT


@dataclass(frozen=True)
class StateConfig:
    dir: str = field(default="/var/lib/mrtfeed", metadata={"nonempty": True})
    # The oldest quarantined files are removed beyond it (service.quarantine).
    quarantine_max_bytes: int = field(default=2 * 2**30, metadata={"min": 0})

    @property
    def path(self) -> Path:
        return Path(self.dir)


@dataclass(frozen=True)
class QueuesConfig:
    files: int = field(default=4, metadata={"min": 1})
    #: 0: two per parser worker (each has the next chunk queued; more only holds
    #: messages in memory: 8 for 2 workers was slower and doubled the peak RSS).
    chunks: int = field(default=0, metadata={"min": 0})


@dataclass(frozen=True)
class JsonlConfig:
    path: str = field(default="-", metadata={"nonempty": True})


@dataclass(frozen=True)
class KafkaTopicsConfig:
    events: str = field(default="mrtfeed.events.v1", metadata={"check": _topic})
    alerts: str = field(default="mrtfeed.alerts.v1", metadata={"check": _topic})
    checkpoints: str = field(default="mrtfeed.checkpoints.v1", metadata={"check": _topic})
    work: str = field(default="mrtfeed.work.v1", metadata={"check": _topic})


@dataclass(frozen=True)
class SaslConfig:
    mechanism: str = field(
        default="PLAIN", metadata=_choices("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    )
    username: str = ""
    password: str = field(default="", metadata={"secret": True})


@dataclass(frozen=True)
class TlsConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: tuple[str, ...] = field(
        default=("localhost:9092",), metadata={"check": _host_port, "nonempty": True}
    )
    client_id: str = field(default="mrtfeed", metadata={"nonempty": True})
    topics: KafkaTopicsConfig = KafkaTopicsConfig()
    compression: str = field(default="zstd", metadata=_choices("zstd", "lz4", "gzip", "none"))
    linger_ms: int = field(default=50, metadata={"min": 0})
    max_batch_size: int = field(default=1048576, metadata={"min": 1})
    transactional_id: str = ""
    security_protocol: str = field(
        default="PLAINTEXT", metadata=_choices("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
    )
    sasl: SaslConfig = SaslConfig()
    tls: TlsConfig = TlsConfig()

    @property
    def effective_transactional_id(self) -> str:
        return self.transactional_id or f"mrtfeed-{socket.gethostname()}"


@dataclass(frozen=True)
class SinkConfig:
    type: str = field(default="jsonl", metadata=_choices("jsonl", "kafka"))
    jsonl: JsonlConfig = JsonlConfig()
    kafka: KafkaConfig = KafkaConfig()


_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class FilterSetConfig:
    """A named filter expression whose matches go to their own topic."""

    name: str = field(default="", metadata={"required": True, "pattern": _NAME})
    expr: str = field(default="", metadata={"required": True, "nonempty": True})
    topic: str = field(default="", metadata={"required": True, "check": _topic})


@dataclass(frozen=True)
class AlertsConfig:
    loops: bool = True
    unsignalled_addpath: bool = True
    stale_after: timedelta = field(default=timedelta(hours=2), metadata={"positive": True})


@dataclass(frozen=True)
class ServerConfig:
    host: str = ""  # every interface, IPv4 and IPv6 (observe.server.ALL_INTERFACES)
    port: int = field(default=9180, metadata={"min": 0, "max": 65535})


@dataclass(frozen=True)
class ScaleOutConfig:
    enabled: bool = False
    group_id: str = field(default="mrtfeed", metadata={"nonempty": True})


@dataclass(frozen=True)
class LogConfig:
    level: str = field(
        default="info", metadata=_choices("debug", "info", "warning", "error", "critical")
    )
    format: str = field(default="json", metadata=_choices("json", "text"))


@dataclass(frozen=True)
class Config:
    """The whole effective configuration (file, then environment, then defaults)."""

    config_version: int = CONFIG_VERSION
    archives: ArchivesConfig = ArchivesConfig()
    collectors: CollectorsConfig = CollectorsConfig()
    files: FilesConfig = FilesConfig()
    start: StartSpec = StartSpec()
    poll: PollConfig = PollConfig()
    http_client: HttpClientConfig = HttpClientConfig()
    state: StateConfig = StateConfig()
    workers: int = field(default=0, metadata={"min": 0})
    queues: QueuesConfig = QueuesConfig()
    sink: SinkConfig = SinkConfig()
    filter_sets: tuple[FilterSetConfig, ...] = ()
    events_filter: str = ""
    alerts: AlertsConfig = AlertsConfig()
    server: ServerConfig = ServerConfig()
    scale_out: ScaleOutConfig = ScaleOutConfig()
    log: LogConfig = LogConfig()

    @property
    def chunk_window(self) -> int:
        """``queues.chunks`` with 0 resolved to two per parser worker."""
        return self.queues.chunks or 2 * self.worker_count

    @property
    def worker_count(self) -> int:
        """``workers`` with 0 resolved to the number of usable cores."""
        if self.workers:
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            return max(1, os.cpu_count() or 1)


# -- building from plain data ---------------------------------------------------------


def _type_name(tp: Any) -> str:
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    return "a list" if get_origin(tp) is tuple else "a mapping"


class _Builder:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def bad(self, path: str, message: str) -> None:
        self.problems.append(f"{path or '<top>'}: {message}")

    def build(self, cls: type[Any], data: object, path: str) -> Any:
        """A ``cls`` instance from ``data`` (a mapping); defaults where keys are absent."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.bad(path, "must be a mapping")
            return cls()
        hints = get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in data:
            if key not in fields:
                known = ", ".join(sorted(fields))
                self.bad(_join(path, str(key)), f"unknown key (expected one of: {known})")
        values: dict[str, Any] = {}
        for name, f in fields.items():
            if name not in data:
                if f.metadata.get("required"):
                    self.bad(_join(path, name), "is required")
                continue
            sub = _join(path, name)
            value = self.value(hints[name], data[name], sub, f.metadata)
            if value is not _INVALID:
                values[name] = value
        try:
            return cls(**values)
        except TypeError as e:  # pragma: no cover - schema bug
            self.bad(path, str(e))
            return cls()

    def value(self, tp: Any, raw: object, path: str, meta: Mapping[str, Any]) -> Any:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):  # pragma: no cover - not used in the schema
            tp = next(a for a in get_args(tp) if a is not type(None))
            origin = get_origin(tp)
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            if tp is StartSpec:
                try:
                    return StartSpec.parse(raw)
                except ValueError as e:
                    self.bad(path, str(e))
                    return _INVALID
            return self.build(tp, raw, path)
        if tp is timedelta:
            try:
                td = parse_duration(raw)
            except ValueError as e:
                self.bad(path, str(e))
                return _INVALID
            if meta.get("positive") and td <= timedelta(0):
                self.bad(path, "must be greater than zero")
                return _INVALID
            return td
        if origin is tuple:
            item = get_args(tp)[0]
            if raw is None:
                raw = []
            if not isinstance(raw, list):
                self.bad(path, "must be a list")
                return _INVALID
            items = [
                self.value(item, x, f"{path}[{i}]", meta if item is str else {})
                for i, x in enumerate(raw)
            ]
            if meta.get("nonempty") and not items:
                self.bad(path, "must not be empty")
                return _INVALID
            return tuple(items) if _INVALID not in items else _INVALID
        return self.scalar(tp, raw, path, meta)

    def scalar(self, tp: Any, raw: object, path: str, meta: Mapping[str, Any]) -> Any:
        ok = (
            isinstance(raw, bool)
            if tp is bool
            else isinstance(raw, int) and not isinstance(raw, bool)
            if tp is int
            else isinstance(raw, int | float) and not isinstance(raw, bool)
            if tp is float
            else isinstance(raw, str)
        )
        if tp is str and isinstance(raw, int | float) and not isinstance(raw, bool):
            raw, ok = str(raw), True  # a numeric client id or password is still text
        if not ok:
            self.bad(path, f"must be {_type_name(tp)}, not {raw!r}")
            return _INVALID
        value: Any = float(raw) if tp is float else raw  # type: ignore[arg-type]
        if "choices" in meta and value not in meta["choices"]:
            self.bad(path, "must be one of " + ", ".join(meta["choices"]))
            return _INVALID
        if "min" in meta and value < meta["min"]:
            self.bad(path, f"must be at least {meta['min']}")
            return _INVALID
        if "max" in meta and value > meta["max"]:
            self.bad(path, f"must be at most {meta['max']}")
            return _INVALID
        if meta.get("nonempty") and value == "":
            self.bad(path, "must not be empty")
            return _INVALID
        if "pattern" in meta and not meta["pattern"].match(value):
            self.bad(path, "may only hold letters, digits, '.', '_' and '-'")
            return _INVALID
        check = meta.get("check")
        if check is not None and (message := check(value)) is not None:
            self.bad(path, message)
            return _INVALID
        return value


_INVALID: Any = object()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# -- environment overrides -----------------------------------------------------------


def _field_type(path: list[str]) -> Any:
    """Schema type at a key path, or None when the path does not exist."""
    tp: Any = Config
    for key in path:
        if not (dataclasses.is_dataclass(tp) and isinstance(tp, type)) or tp is StartSpec:
            return None
        hints = get_type_hints(tp)
        if key not in hints:
            return None
        tp = hints[key]
    return tp


class _Loader(yaml.SafeLoader):
    """YAML without YAML 1.1's implicit timestamps: an unquoted ``2024-02-30`` made
    PyYAML raise a bare ValueError (a traceback), and ``2024-06-01`` became a date
    that no field takes. Times stay text, for the field to parse and word errors."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_load(text: str) -> object:
    return yaml.load(text, Loader=_Loader)


def _env_value(raw: str, tp: Any) -> object:
    """YAML scalar parsing, except that text fields keep the raw text.

    A password ``123`` or ``yes`` must stay that string, not become 123 or True; a
    quoted value (``'"x"'``) is still unquoted.
    """
    try:
        parsed = _yaml_load(raw)
    except yaml.YAMLError:
        parsed = raw
    if tp is str and not isinstance(parsed, str):
        return raw
    return parsed


#: The variables Kubernetes gives a pod for each Service (and Docker for --link):
#: a Service whose name starts with "mrtfeed" makes them look like overrides.
_SERVICE_LINK = re.compile(r"_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)\w*)?)$")
_SERVICE_LINK_HINT = " (a Kubernetes service link? set enableServiceLinks: false in the pod)"


def apply_env(data: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Apply ``MRTFEED_A__B=...`` overrides to ``data`` in place; returns problems."""
    problems: list[str] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in ENV_RESERVED:
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        tp = _field_type(path)
        if tp is None or not path[0]:
            hint = _SERVICE_LINK_HINT if _SERVICE_LINK.search(name) else ""
            problems.append(f"{name}: no config key {'.'.join(path)}{hint}")
            continue
        target = data
        for key in path[:-1]:
            node = target.get(key)
            if not isinstance(node, dict):
                node = {}
                target[key] = node
            target = node
        target[path[-1]] = _env_value(environ[name], tp)
    return problems


# -- entry points --------------------------------------------------------------------


def parse_config(
    data: object, environ: Mapping[str, str] | None = None, *, compile_filters: bool = True
) -> Config:
    """Validate plain data (a parsed YAML document) plus overrides into a :class:`Config`.

    Raises :class:`ConfigError` listing every problem, each prefixed with its key path.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(["<top>: the config file must be a YAML mapping"])
    data = dict(data)
    problems = apply_env(data, os.environ if environ is None else environ)
    builder = _Builder()
    config: Config = builder.build(Config, data, "")
    problems += builder.problems
    if "config_version" in data and config.config_version != CONFIG_VERSION:
        problems.append(f"config_version: must be {CONFIG_VERSION}")
    problems += _cross_checks(config, compile_filters)
    if problems:
        raise ConfigError(problems)
    return config


def load_config(
    path: str | Path | None, environ: Mapping[str, str] | None = None, **kwargs: bool
) -> Config:
    """Read and validate a config file (None: defaults and environment only)."""
    data: object = {}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError([f"{path}: cannot read: {e.strerror or e}"]) from None
        except UnicodeDecodeError as e:
            raise ConfigError([f"{path}: not UTF-8 text (byte {e.start})"]) from None
        try:
            data = _yaml_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
            raise ConfigError([f"{path}: not valid YAML{where}: {e}"]) from None
    return parse_config(data, environ, **kwargs)


def _cross_checks(config: Config, compile_filters: bool) -> list[str]:
    problems: list[str] = []
    archives = config.archives
    if not (archives.routeviews.enabled or archives.ris.enabled):
        problems.append("archives: at least one of routeviews, ris must be enabled")
    if not (config.files.ribs or config.files.updates):
        problems.append("files: at least one of ribs, updates must be true")
    names = [fs.name for fs in config.filter_sets]
    for i, fs in enumerate(config.filter_sets):
        if names.index(fs.name) != i:
            problems.append(f"filter_sets[{i}].name: duplicate name {fs.name!r}")
    # No "SASL needs a username" check: deployments inject the username and password
    # from a Secret through MRTFEED_SINK__KAFKA__SASL__*, and check-config runs on the
    # rendered ConfigMap without them; the broker's refusal names the problem at start.
    if config.scale_out.enabled and config.sink.type != "kafka":
        problems.append("scale_out.enabled: needs sink.type kafka (replicas meet in Kafka)")
    if compile_filters:
        problems += _compile_filters(config)
    return problems


def _compile_filters(config: Config) -> list[str]:
    """Compile every expression with the filter language, when it is available."""
    try:
        from mrtfeed.filter import compile_filter  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return []
    problems: list[str] = []
    exprs = [("events_filter", config.events_filter)] if config.events_filter else []
    exprs += [
        (f"filter_sets[{i}].expr", fs.expr) for i, fs in enumerate(config.filter_sets) if fs.expr
    ]
    for path, expr in exprs:
        try:
            compile_filter(expr)
        except Exception as e:  # FilterSyntaxError; its message names the column
            problems.append(f"{path}: invalid filter: {e}")
    return problems


def config_to_dict(config: Config, *, mask_secrets: bool = True) -> dict[str, Any]:
    """The effective config as plain data in the file's shape (for ``--print``)."""
    return _dump(config, mask_secrets)  # type: ignore[no-any-return]


def _dump(value: Any, mask: bool, meta: Mapping[str, Any] | None = None) -> Any:
    if isinstance(value, StartSpec):
        return value.text
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _dump(getattr(value, f.name), mask, f.metadata)
            for f in dataclasses.fields(value)
        }
    if isinstance(value, timedelta):
        return _format_duration(value)
    if isinstance(value, tuple):
        return [_dump(v, mask) for v in value]
    if mask and meta and meta.get("secret") and value:
        return MASK
    return value
