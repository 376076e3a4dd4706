"""The config file (version 1): defaults, validation messages, environment overrides,
check-config, and the mapping onto the fetcher's settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from mrtfeed.archive.model import Kind, Project
from mrtfeed.cli import main
from mrtfeed.config import (
    Config,
    ConfigError,
    config_to_dict,
    load_config,
    parse_config,
    parse_duration,
)
from mrtfeed.service.wiring import build_sources, fetch_config, http_policy, start_position

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "config").glob("*.yaml"))


def problems(data: object, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env or {})
    return info.value.problems


def test_empty_file_is_all_defaults() -> None:
    assert parse_config(None, {}) == Config()
    assert parse_config({}, {}) == Config()


def test_default_example_spells_out_exactly_the_defaults() -> None:
    assert load_config(REPO / "config" / "default.yaml", {}) == Config()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_config_is_valid(path: Path) -> None:
    load_config(path, {})


def test_documented_shape_round_trips_through_print() -> None:
    """--print output is itself a valid config with the same meaning."""
    config = load_config(REPO / "config" / "kafka.yaml", {})
    again = parse_config(yaml.safe_load(yaml.safe_dump(config_to_dict(config))), {})
    assert again == config


def test_bad_choice_names_the_key_path_and_the_choices() -> None:
    assert problems({"sink": {"kafka": {"compression": "snappy"}}}) == [
        "sink.kafka.compression: must be one of zstd, lz4, gzip, none"
    ]


def test_unknown_keys_are_errors_at_every_level() -> None:
    got = problems({"sinks": {}, "poll": {"intervall": "5s"}})
    assert got[0].startswith("sinks: unknown key")
    assert got[1].startswith("poll.intervall: unknown key (expected one of: grace_period,")


def test_every_problem_is_reported_at_once() -> None:
    got = problems(
        {
            "workers": -1,
            "server": {"port": 70000},
            "poll": {"interval": "soon", "jitter": 2},
            "sink": {"type": "s3"},
            "state": {"dir": ""},
        }
    )
    assert got == [
        "poll.interval: must be a duration (seconds, or like 90s, 15m, 6h)",
        "poll.jitter: must be at most 1.0",
        "state.dir: must not be empty",
        "workers: must be at least 0",
        "sink.type: must be one of jsonl, kafka",
        "server.port: must be at most 65535",
    ]


def test_types_are_checked() -> None:
    assert problems({"files": {"ribs": "yes please"}}) == [
        "files.ribs: must be true or false, not 'yes please'"
    ]
    assert problems({"collectors": {"include": "rrc00"}}) == ["collectors.include: must be a list"]
    assert problems({"archives": "all"}) == ["archives: must be a mapping"]
    assert problems({"archives": {"ris": {"base_url": "data.ris.ripe.net"}}}) == [
        "archives.ris.base_url: must be an http(s) URL"
    ]
    assert problems({"sink": {"kafka": {"bootstrap_servers": ["kafka"]}}}) == [
        "sink.kafka.bootstrap_servers[0]: must be host:port"
    ]
    assert problems({"sink": {"kafka": {"topics": {"events": "a topic"}}}}) == [
        "sink.kafka.topics.events: must be a Kafka topic name (letters, digits, '.', '_',"
        " '-', at most 249)"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90s", 90), ("15m", 900), ("6h", 21600), ("1d", 86400), ("1.5h", 5400), (0.5, 0.5)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["6 hours", "-5s", True, "h", None])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_zero_interval_is_refused() -> None:
    assert problems({"poll": {"interval": 0}}) == ["poll.interval: must be greater than zero"]


def test_start_positions(tmp_path: Path) -> None:
    assert start_position(parse_config({"start": "now"}, {})).resolve(
        datetime(2026, 1, 1, tzinfo=UTC)
    ) == datetime(2026, 1, 1, tzinfo=UTC)
    six = parse_config({"start": "-6h"}, {})
    assert start_position(six).resolve(datetime(2026, 1, 1, 12, tzinfo=UTC)) == datetime(
        2026, 1, 1, 6, tzinfo=UTC
    )
    # quoted, unquoted, a date alone (refused before: YAML made it a date), an offset
    path = tmp_path / "start.yaml"
    for doc in (
        'start: "2026-11-01T00:00:00Z"',
        "start: 2026-11-01T00:00:00Z",
        "start: 2026-11-01",
        'start: "2026-11-01T01:00:00+01:00"',
    ):
        path.write_text(doc + "\n")
        assert load_config(path, {}).start.at == datetime(2026, 11, 1, tzinfo=UTC)
    wrong = ["start: must be now, -<duration> (like -6h) or an ISO 8601 timestamp"]
    assert problems({"start": "yesterday"}) == wrong
    # an impossible date was a ValueError traceback, from the file or the environment
    path.write_text("start: 2024-02-30\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.problems == wrong
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"MRTFEED_START": "2024-02-30"})
    assert caught.value.problems == wrong


def test_environment_overrides_by_key_path() -> None:
    config = parse_config(
        {"sink": {"type": "jsonl"}},
        {
            "MRTFEED_SINK__TYPE": "kafka",
            "MRTFEED_SINK__KAFKA__SASL__USERNAME": "svc",
            "MRTFEED_SINK__KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "MRTFEED_SINK__KAFKA__SASL__PASSWORD": "123",
            "MRTFEED_COLLECTORS__INCLUDE": "[rrc00, route-views2]",
            "MRTFEED_FILES__RIBS": "false",
            "MRTFEED_POLL__INTERVAL": "15m",
            "MRTFEED_WORKERS": "3",
            "MRTFEED_CONFIG": "/etc/mrtfeed/config.yaml",  # not an override
            "OTHER": "ignored",
        },
    )
    assert config.sink.type == "kafka"
    assert config.sink.kafka.sasl.password == "123"  # text stays text
    assert config.collectors.include == ("rrc00", "route-views2")
    assert config.files.ribs is False
    assert config.poll.interval == timedelta(minutes=15)
    assert config.workers == 3


def test_environment_secret_with_yaml_syntax_stays_verbatim() -> None:
    config = parse_config({}, {"MRTFEED_SINK__KAFKA__SASL__PASSWORD": "a: b, [c"})
    assert config.sink.kafka.sasl.password == "a: b, [c"


def test_bad_environment_overrides_name_the_variable_or_key() -> None:
    assert problems({}, {"MRTFEED_SINK__KAFKA__COMPRESION": "lz4"}) == [
        "MRTFEED_SINK__KAFKA__COMPRESION: no config key sink.kafka.compresion"
    ]
    assert problems({}, {"MRTFEED_SINK__KAFKA__COMPRESSION": "brotli"}) == [
        "sink.kafka.compression: must be one of zstd, lz4, gzip, none"
    ]


def test_a_kubernetes_service_link_is_named_as_such() -> None:
    links = {
        "MRTFEED_METRICS_SERVICE_HOST": "10.96.0.12",
        "MRTFEED_METRICS_PORT": "tcp://10.96.0.12:9180",
        "MRTFEED_METRICS_PORT_9180_TCP_ADDR": "10.96.0.12",
    }
    found = problems({}, links)
    assert len(found) == 3 and all("enableServiceLinks: false" in p for p in found)
    assert "enableServiceLinks" not in problems({}, {"MRTFEED_WROKERS": "2"})[0]


def test_cross_checks() -> None:
    assert problems(
        {"archives": {"routeviews": {"enabled": False}, "ris": {"enabled": False}}}
    ) == ["archives: at least one of routeviews, ris must be enabled"]
    assert problems({"files": {"ribs": False, "updates": False}}) == [
        "files: at least one of ribs, updates must be true"
    ]
    sets = [
        {"name": "x", "expr": "loop", "topic": "a"},
        {"name": "x", "expr": "loop", "topic": "b"},
    ]
    assert problems({"filter_sets": sets}) == ["filter_sets[1].name: duplicate name 'x'"]
    # credentials may come from the environment at run time only (the chart's Secret)
    parse_config({"sink": {"type": "kafka", "kafka": {"security_protocol": "SASL_SSL"}}}, {})
    assert problems({"config_version": 2}) == ["config_version: must be 1"]


def test_filter_expressions_are_compiled_at_check_time() -> None:
    got = problems(
        {
            "events_filter": "loop and (",
            "filter_sets": [{"name": "bad", "expr": "no-such-predicate 1", "topic": "t"}],
        }
    )
    assert got[0].startswith("events_filter: invalid filter: ")
    assert "column" in got[0]
    assert got[1].startswith("filter_sets[0].expr: invalid filter: ")
    assert problems({"filter_sets": [{"name": "x", "topic": "t"}]}) == [
        "filter_sets[0].expr: is required"
    ]
    assert problems({"filter_sets": [{"name": "x", "expr": "", "topic": "t"}]}) == [
        "filter_sets[0].expr: must not be empty"
    ]


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", {})
    bad = tmp_path / "bad.yaml"
    bad.write_text("sink:\n  type: [jsonl\n")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 3"):
        load_config(bad, {})
    top = tmp_path / "list.yaml"
    top.write_text("- a\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(top, {})
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")  # was a UnicodeDecodeError traceback
    with pytest.raises(ConfigError, match=r"binary.yaml: not UTF-8 text \(byte 0\)"):
        load_config(binary, {})


def test_check_config_exit_status_and_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("sink: {type: kafka, kafka: {sasl: {password: hunter2}}}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sink: {kafka: {compression: snappy}}\nnope: 1\n")
    monkeypatch.delenv("MRTFEED_SINK__TYPE", raising=False)
    assert main(["check-config", str(good)]) == 0
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: sink.kafka.compression: must be one of zstd, lz4, gzip, none" in err
    assert f"{bad}: nope: unknown key" in err
    assert main(["check-config", "--print", str(good)]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["sink"]["kafka"]["sasl"]["password"] == "***"
    assert printed["sink"]["type"] == "kafka"
    monkeypatch.setenv("MRTFEED_SINK__TYPE", "nats")
    assert main(["check-config", str(good)]) == 1
    assert main(["check-config", "--no-env", str(good)]) == 0


def test_mapping_onto_the_fetcher() -> None:
    config = parse_config(
        {
            "archives": {"routeviews": {"enabled": False}},
            "collectors": {"include": ["rrc0?"], "exclude": ["rrc03"], "refresh_interval": "1h"},
            "files": {"ribs": False},
            "poll": {"interval": "100s", "jitter": 0.1, "grace_period": "3m"},
            "http_client": {"per_host_concurrency": 2, "timeout": "40s", "user_agent": "x/1"},
            "queues": {"files": 3},
            "state": {"dir": "/data"},
        },
        {},
    )
    (source,) = build_sources(config)
    assert source.project is Project.RIS
    assert source.kinds == frozenset({Kind.UPDATES})
    assert source.filter.apply({"rrc00", "rrc03", "rrc21"}) == {"rrc00"}
    assert source.collector_lists  # official host: the RIS collector list is used
    fc = fetch_config(config)
    assert fc.workdir == Path("/data/downloads")
    assert fc.poll_jitter == timedelta(seconds=10)
    assert fc.readiness.grace == timedelta(minutes=3)
    assert fc.collector_refresh == timedelta(hours=1)
    assert fc.max_parallel_files == 3
    policy = http_policy(config)
    assert (policy.user_agent, policy.per_host_connections, policy.read_timeout) == (
        "x/1",
        2,
        40.0,
    )
    assert http_policy(Config()).user_agent.startswith("mrtfeed/")


def test_mirrors_do_not_use_the_official_collector_lists() -> None:
    config = parse_config({"archives": {"routeviews": {"base_url": "http://127.0.0.1:8080/"}}}, {})
    rv, ris = build_sources(config)
    assert rv.collector_lists == ()
    assert ris.collector_lists != ()


def test_worker_count_zero_means_every_core() -> None:
    assert Config().worker_count >= 1
    assert parse_config({"workers": 3}, {}).worker_count == 3


def test_chunk_window_zero_means_two_per_worker() -> None:
    assert parse_config({"workers": 3}, {}).chunk_window == 6
    assert parse_config({"workers": 3, "queues": {"chunks": 5}}, {}).chunk_window == 5


def test_scale_out_needs_kafka() -> None:
    assert problems({"scale_out": {"enabled": True}}) == [
        "scale_out.enabled: needs sink.type kafka (replicas meet in Kafka)"
    ]
