"""`mrtfeed run` refuses to start on a bad config or an unusable state folder: exit 1,
one line naming the problem, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrtfeed.cli import main


def test_invalid_config_exits_1_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MRTFEED_CONFIG", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text("sink: {type: kafka, kafka: {compression: brotli}}\n")
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "mrtfeed: config: sink.kafka.compression: must be one of zstd, lz4, gzip, none" in err


def test_unusable_state_folder_exits_1_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"state: {{dir: {blocker}/state}}\nserver: {{host: 127.0.0.1, port: 0}}\n"
        "log: {format: text}\n"
    )
    assert main(["run", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "mrtfeed run failed: " in err and "Traceback" not in err
