"""The JSON-lines sink's output file: what start keeps, and what a failing output does."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrtfeed.sink.base import Batch, Checkpoint, SourceFile
from mrtfeed.sink.jsonl import CHECKPOINT_NAME, JsonlSink

FILE = SourceFile("ris", "rrc00", "updates", 1700000000, "http://127.0.0.1/x")


def batch(line: bytes, record: int) -> Batch:
    return Batch(
        FILE,
        [("mrtfeed.events.v1", b"k", line, None)],
        Checkpoint(FILE.key, record * 100, record),
    )


async def test_an_output_found_without_checkpoints_keeps_its_lines(tmp_path: Path) -> None:
    """A lost or new state dir used to empty the output file it found."""
    out = tmp_path / "events.jsonl"
    out.write_bytes(b'{"old": 1}\n{"old": 2}\n')
    state = tmp_path / "state"
    state.mkdir()
    sink = JsonlSink(str(out), state)
    await sink.start()
    assert (state / CHECKPOINT_NAME).exists()  # its length is recorded before a write
    await sink.write(batch(b'{"new": 1}', 1))
    await sink.commit()
    await sink.write(batch(b'{"uncommitted": 1}', 2))  # then the process dies
    again = JsonlSink(str(out), state)
    await again.start()
    await again.close()
    assert out.read_bytes() == b'{"old": 1}\n{"old": 2}\n{"new": 1}\n'


async def test_the_output_folder_is_made_when_missing(tmp_path: Path) -> None:
    """Like the state dir; the sink used to retry opening the file for ever, while
    check-config said the config was fine."""
    out = tmp_path / "new" / "folder" / "events.jsonl"
    sink = JsonlSink(str(out), tmp_path)
    await sink.start()
    await sink.write(batch(b'{"new": 1}', 1))
    await sink.commit()
    await sink.close()
    assert out.read_bytes() == b'{"new": 1}\n'


@pytest.mark.parametrize("device", ["/dev/null", "/dev/stdout"])
async def test_a_device_or_pipe_is_an_output(tmp_path: Path, device: str) -> None:
    """Truncating a device or a pipe fails (EINVAL): the sink never started."""
    sink = JsonlSink(device, tmp_path)
    await sink.start()
    assert sink.ready
    await sink.write(batch(b'{"new": 1}', 1))
    await sink.commit()
    await sink.close()
    again = JsonlSink(device, tmp_path)
    await again.start()
    assert await again.checkpoint(FILE) == Checkpoint(FILE.key, 100, 1)
    await again.close()


async def test_a_failed_output_is_not_ready_and_writes_nothing_more(tmp_path: Path) -> None:
    """A full disk: the commit fails, the sink says it is not ready (so files are not
    blamed and quarantined for it) and refuses every later write and commit."""
    sink = JsonlSink("/dev/full", tmp_path)
    await sink.start()
    await sink.write(batch(b'{"new": 1}', 1))
    with pytest.raises(OSError, match="No space left on device"):
        await sink.commit()
    assert not sink.ready
    with pytest.raises(OSError, match="the output failed earlier"):
        await sink.write(batch(b'{"new": 2}', 2))
    with pytest.raises(OSError, match="the output failed earlier"):
        await sink.commit()
    await sink.close()  # no commit, no error
    assert not (tmp_path / CHECKPOINT_NAME).exists()  # nothing claims the lost batch


async def test_checkpoints_that_could_not_be_saved_are_not_in_force(tmp_path: Path) -> None:
    """The fetcher marks a file done by the committed checkpoints: one kept in memory
    but not on disk made a restart truncate the file's lines while it counted as done."""
    sink = JsonlSink(str(tmp_path / "events.jsonl"), tmp_path)
    await sink.start()
    await sink.write(batch(b'{"new": 1}', 1))
    (tmp_path / CHECKPOINT_NAME).with_suffix(".tmp").mkdir()  # the save fails
    with pytest.raises(IsADirectoryError):
        await sink.commit()
    assert FILE.key not in sink.committed_checkpoints and not sink.ready
    await sink.close()
