"""``mrtfeed parse`` as users run it: a subprocess, real files, exit statuses, stderr."""

from __future__ import annotations

import bz2
import gzip
import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest

from mrtfeed.decode.bz2blocks import BlockSplitter, decompress_block, find_block_magics
from mrtfeed.decode.decoder import Decoder
from mrtfeed.decode.framing import RecordSplitter, iter_records
from mrtfeed.encode.bgpdump import BgpdumpEncoder
from tests.decode.helpers import inflated_before_damage
from tests.mrtdata import MRT_DIR, framed, reference_lines

PARSE = [sys.executable, "-m", "mrtfeed.cli", "parse"]


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*PARSE, *args],
        input=stdin,
        capture_output=True,
        check=False,
    )


def test_bgpdump_format_equals_reference() -> None:
    name = "updates.20100722.2015.gz"
    result = run("--format", "bgpdump", str(MRT_DIR / name))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines(keepends=True) == reference_lines(name)
    assert result.stderr == b""


def test_stdin_is_sniffed_for_compression() -> None:
    name = "ris.rrc06.updates.1427846400.gz"
    result = run("-", stdin=(MRT_DIR / name).read_bytes())
    assert result.returncode == 0
    assert result.stdout.decode().splitlines(keepends=True) == reference_lines(name)


def test_jobs_produce_identical_output() -> None:
    path = str(MRT_DIR / "rib6.20151101.0600_firstMB.bz2")
    one = run(path)
    two = run("--jobs", "2", path)
    assert one.stdout == two.stdout
    assert one.returncode == two.returncode == 1
    assert one.stderr == two.stderr


#: ``--jobs 1`` decodes the stream as it comes; more jobs cut it at records first.
JOBS = pytest.mark.parametrize("jobs", ["1", "2"])
JINX = "routeviews.route-views.jinx.ribs.1401487200.bz2"


@JOBS
def test_truncated_file_keeps_records_and_names_the_damage(jobs: str) -> None:
    name = "rib.20080501.0644_firstMB.bz2"
    result = run("--jobs", jobs, str(MRT_DIR / name))
    assert result.returncode == 1
    assert result.stdout.decode().splitlines(keepends=True) == reference_lines(name)
    message = result.stderr.decode()
    assert "Traceback" not in message
    assert name in message and "byte offset 9876131" in message and "record 139291" in message
    assert "bz2 stream ends before its end-of-stream marker" in message


@JOBS
def test_a_damaged_file_does_not_stop_the_next_one(jobs: str) -> None:
    """The second file's lines follow the first file's good part (with ``--jobs 2``,
    written by another pool's workers)."""
    damaged, good = "rib.20080501.0644_firstMB.bz2", "updates.20100722.2015.gz"
    result = run("--jobs", jobs, str(MRT_DIR / damaged), str(MRT_DIR / good))
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines(keepends=True)
    assert lines == reference_lines(damaged) + reference_lines(good)
    assert result.stderr.decode().count("mrtfeed: ") == 1


def _reader_goes_away(*options: str) -> bytes:
    """``mrtfeed parse [OPTIONS] JINX | head -1``: its stderr, once it exited 0."""
    path = str(MRT_DIR / "routeviews.route-views.jinx.ribs.1401487200.bz2")
    with subprocess.Popen(
        [*PARSE, *options, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith(b"TABLE_DUMP2|1401487200|B|")
        proc.stdout.close()
        stderr = proc.stderr.read()
    assert proc.returncode == 0, stderr
    return stderr


@JOBS
def test_a_reader_that_goes_away_ends_the_run_quietly(jobs: str) -> None:
    """``mrtfeed parse FILE | head``: exit status 0 and nothing on stderr, as for any
    filter in a pipe (the output, 58 MB, cannot fit in the pipe before it closes)."""
    assert _reader_goes_away("--jobs", jobs) == b""


@JOBS
def test_a_reader_going_away_wipes_the_progress_and_still_prints_stats(jobs: str) -> None:
    """The progress line was left on the terminal before the prompt, and --stats
    printed nothing once the reader had gone."""
    stderr = _reader_goes_away("--jobs", jobs, "--progress", "always", "--stats")
    last_draw = stderr.rfind(b"\r")  # -j 2 may stop before a result is drawn
    assert last_draw == -1 or stderr[last_draw:].startswith(b"\r\x1b[KMRT records by type:\n")
    assert stderr.endswith(b"Bad records\t0\n")


def _closing(fd: int) -> Callable[[], None]:
    return lambda: os.close(fd)


def test_a_closed_standard_output_is_named() -> None:
    """``>&-``: an AttributeError traceback before."""
    result = subprocess.run(
        [*PARSE, str(MRT_DIR / "quagga_rib")],
        stderr=subprocess.PIPE,
        preexec_fn=_closing(1),
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == b"mrtfeed: standard output is closed\n"


def test_a_closed_standard_error_leaves_the_output_alone(tmp_path: Path) -> None:
    """``2>&-``: a traceback went nowhere and nothing was decoded; messages and stats
    must not end up in the output either."""
    cut = tmp_path / "cut.mrt"
    cut.write_bytes((MRT_DIR / "quagga_rib").read_bytes()[:600])
    whole = run(str(MRT_DIR / "quagga_rib"), str(cut))
    result = subprocess.run(
        [*PARSE, "--stats", str(MRT_DIR / "quagga_rib"), str(cut)],
        stdout=subprocess.PIPE,
        preexec_fn=_closing(2),
        check=False,
    )
    assert result.returncode == whole.returncode == 1
    assert result.stdout == whole.stdout and whole.stderr.startswith(b"mrtfeed: ")


@JOBS
def test_a_failing_output_is_named_and_ends_the_run(jobs: str) -> None:
    """A full disk was reported as the error of the file being read, and the next
    files were decoded into the broken output."""
    files = [str(MRT_DIR / "updates.example.bz2"), str(MRT_DIR / "updates.bz2")]
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [*PARSE, "--jobs", jobs, *files], stdout=full, stderr=subprocess.PIPE, check=False
        )
    assert result.returncode == 1
    assert result.stderr == b"mrtfeed: standard output: No space left on device\n"


@JOBS
def test_cut_raw_file_reports_the_record(tmp_path: Path, jobs: str) -> None:
    data = (MRT_DIR / "bird_bgp").read_bytes()
    cut = tmp_path / "cut.mrt"
    cut.write_bytes(data[:1000])
    result = run("--jobs", jobs, str(cut))
    assert result.returncode == 1
    full = run(str(MRT_DIR / "bird_bgp")).stdout.decode().splitlines()
    got = result.stdout.decode().splitlines()
    assert got == full[: len(got)] and 0 < len(got) < len(full)
    assert "stream ends inside an MRT record" in result.stderr.decode()


@JOBS
def test_huge_length_field_is_refused_without_allocating(tmp_path: Path, jobs: str) -> None:
    bogus = tmp_path / "bogus.mrt"
    header = (0).to_bytes(4, "big") + (13).to_bytes(2, "big") + (2).to_bytes(2, "big")
    bogus.write_bytes(header + (0xFFFFFFF0).to_bytes(4, "big") + b"\x00" * 64)
    result = run("--jobs", jobs, str(bogus))
    assert result.returncode == 1
    assert "byte offset 0, record 0: implausible MRT record length 4294967280" in (
        result.stderr.decode()
    )


@JOBS
@pytest.mark.parametrize(
    ("rtype", "subtype", "name"),
    [(16, 4, "BGP4MP/MESSAGE_AS4"), (13, 2, "TABLE_DUMP_V2/RIB_IPV4_UNICAST")],
)
def test_an_empty_record_body_is_named_in_words(
    tmp_path: Path, jobs: str, rtype: int, subtype: int, name: str
) -> None:
    """Before, the message ended in Python's words: "(unpack_from requires a buffer of
    at least 12 bytes for unpacking 12 bytes at offset 0 (actual buffer size is 0))"."""
    empty = tmp_path / "empty-body.mrt"
    empty.write_bytes(struct.pack(">IHHI", 1000, rtype, subtype, 0))
    result = run("--jobs", jobs, str(empty))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"mrtfeed: {empty}, byte offset 0, record 0: "
        f"{name} record body of 0 bytes is too short or inconsistent\n"
    )


@JOBS
def test_an_implausible_length_is_named_before_later_compression_damage(
    tmp_path: Path, jobs: str
) -> None:
    """The first damage in stream order is reported, whichever way the stream is cut."""
    good = (MRT_DIR / "bird_bgp").read_bytes()
    header = (0).to_bytes(4, "big") + (13).to_bytes(2, "big") + (2).to_bytes(2, "big")
    data = good + header + (20_000_000).to_bytes(4, "big") + bytes(5000)
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(gzip.compress(data)[:-20])  # no end-of-stream marker
    result = run("--jobs", jobs, str(damaged))
    assert result.returncode == 1
    assert f"byte offset {len(good)}, record " in result.stderr.decode()
    assert "implausible MRT record length 20000000" in result.stderr.decode()


@JOBS
def test_skip_bad_records_continues_and_counts(tmp_path: Path, jobs: str) -> None:
    data = bytearray(gzip.decompress((MRT_DIR / "updates.20020722.2238.gz").read_bytes()))
    # Break the BGP marker of the first UPDATE (its body starts after the 12-byte MRT
    # header and 16 bytes of BGP4MP addresses): that record is bad, the rest is fine.
    victim = next(
        r
        for r in iter_records(bytes(data))
        if r.type == 16 and len(r.body) > 34 and r.body[34] == 2
    )
    victim_lines = BgpdumpEncoder().encode(Decoder().decode(victim)).splitlines(keepends=True)
    assert victim_lines
    data[victim.offset + 12 + 16] = 0
    damaged = tmp_path / "damaged.mrt.bz2"
    damaged.write_bytes(bz2.compress(bytes(data)))
    strict = run("--jobs", jobs, str(damaged))
    assert strict.returncode == 1
    assert (
        f"byte offset {victim.offset}, record {victim.record_index}: "
        "BGP message without its all-ones marker"
    ) in strict.stderr.decode()
    lenient = run("--jobs", jobs, "--skip-bad-records", "--stats", str(damaged))
    assert lenient.returncode == 0
    reference = reference_lines("updates.20020722.2238.gz")
    at = reference.index(victim_lines[0])
    expected = reference[:at] + reference[at + len(victim_lines) :]
    assert lenient.stdout.decode().splitlines(keepends=True) == expected
    assert "skipped bad record" in lenient.stderr.decode()
    assert "Bad records\t1" in lenient.stderr.decode()


def test_stats_count_record_types() -> None:
    result = run("--stats", str(MRT_DIR / "bird-mrtdump_bgp"))
    stats = result.stderr.decode()
    assert "BGP4MP/MESSAGE_AS4_ADDPATH\t14" in stats
    assert "BGP4MP/STATE_CHANGE_AS4\t12" in stats
    assert "ROUTE-REFRESH\t1" in stats


def test_json_lines_are_objects_with_the_schema_fields() -> None:
    result = run("--format", "json", str(MRT_DIR / "185.186.nlix.mrt"))
    rows = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert len(rows) == 23
    first = rows[0]
    assert first["schema_version"] == 1 and first["event_type"] == "rib"
    assert first["prefix"] == "185.186.205.0/24"
    assert first["large_communities"] == ["213279:34307:492", "213279:8529:492"]
    assert first["aggregator"] == {"asn": 28885, "ip": "62.231.255.122"}


def test_bgpscanner_format_groups_prefixes_of_one_update() -> None:
    result = run("--format", "bgpscanner", str(MRT_DIR / "updates.20020722.2238.gz"))
    lines = result.stdout.decode().splitlines()
    assert all(len(line.split("|")) == 11 for line in lines)
    assert {line[0] for line in lines} <= {"+", "-", "#"}
    assert any(" " in line.split("|")[1] for line in lines if line[0] == "+")


def test_large_communities_column_matches_bgpdump_l() -> None:
    result = run("--large-communities", str(MRT_DIR / "quagga_bgp_large_communities"))
    assert result.stdout.decode().splitlines()[0] == (
        "BGP4MP|1478453687|A|192.0.2.2|65536|203.0.113.16/32|65536|IGP|192.0.2.2|0|0||"
        "65535:1:1 4294967295:4294967295:4294967295|NAG||"
    )


def test_missing_file_is_a_clear_error() -> None:
    result = run("/nonexistent/file.mrt")
    assert result.returncode == 1
    assert result.stderr.decode().strip() == (
        "mrtfeed: /nonexistent/file.mrt: No such file or directory"
    )


# -- filters: --filter and bgpscanner's flags -------------------------------------------

UPDATES = "updates.20100722.2015.gz"


def _fields(name: str) -> list[list[str]]:
    return [line.rstrip("\n").split("|") for line in reference_lines(name)]


def _comms(f: list[str]) -> list[str]:
    return f[11].split() if f[2] in ("A", "B") else []


def _path(f: list[str]) -> list[str]:
    return f[6].split() if f[2] in ("A", "B") else []


def test_filter_expression_prints_the_matching_reference_lines() -> None:
    result = run(
        "--filter",
        "peer-asn 286 and (type withdraw or community-any 286:19)",
        str(MRT_DIR / UPDATES),
    )
    assert result.returncode == 0, result.stderr
    want = [
        "|".join(f) + "\n"
        for f in _fields(UPDATES)
        if f[4] == "286" and (f[2] == "W" or "286:19" in _comms(f))
    ]
    assert want and result.stdout.decode().splitlines(keepends=True) == want


def test_filter_syntax_error_points_at_the_column() -> None:
    result = run("--filter", "peer-asn 286 and type bogus", str(MRT_DIR / UPDATES))
    assert result.returncode == 2 and result.stdout == b""
    message = result.stderr.decode()
    assert "Traceback" not in message
    assert message.splitlines() == [
        "mrtfeed: --filter: bad event type 'bogus' (rib, announce, withdraw, state) at column 23",
        "  peer-asn 286 and type bogus",
        "                        ^",
    ]


BGPSCANNER_CASES = [
    (["-a", "286", "-a", "13237"], lambda f: f[4] in ("286", "13237")),  # repeats OR
    (["-a", "286", "-i", "193.203.0.97"], lambda f: f[3] == "193.203.0.97"),  # groups AND
    (["-a", "286", "-i", "193.203.0.91"], None),
    (["-m", "286:19 286:29"], lambda f: {"286:19", "286:29"} <= set(_comms(f))),
    (["-m", "286:19", "-m", "3549:2713"], lambda f: bool({"286:19", "3549:2713"} & set(_comms(f)))),
    (
        ["-m", "286:19", "-M", "286:800"],
        lambda f: "286:19" in _comms(f) or "286:800" not in _comms(f),
    ),
    (
        ["--all-communities", "-m", "286:19", "-m", "286:29"],
        lambda f: {"286:19", "286:29"} <= set(_comms(f)),
    ),
    (
        ["--all-communities", "-m", "286:19", "-M", "286:800"],
        lambda f: "286:19" in _comms(f) and "286:800" not in _comms(f),
    ),
    (
        ["-p", "^286", "-P", "3549 ?$"],
        lambda f: _path(f)[:1] == ["286"] or _path(f)[-2:-1] != ["3549"],
    ),
    (["-p", "^286 6453", "-a", "286"], lambda f: _path(f)[:2] == ["286", "6453"]),
    (
        ["-e", "62.140.65.0/24", "-e", "62.37.120.0/22"],
        lambda f: f[2] != "STATE" and f[5] in ("62.140.65.0/24", "62.37.120.0/22"),
    ),
    (
        ["-s", "62.0.0.0/8", "-a", "286"],
        lambda f: f[4] == "286" and f[2] != "STATE" and f[5].startswith("62."),
    ),
    (["-t", "AGGREGATOR", "-t", "6"], lambda f: f[2] == "A" and (f[13] != "" or f[12] == "AG")),
    (["-L", "-a", "5385"], lambda f: f[4] == "5385"),  # this file has no loops
]


@pytest.mark.parametrize(
    ("flags", "keep"), BGPSCANNER_CASES, ids=[" ".join(c[0]) for c in BGPSCANNER_CASES]
)
def test_bgpscanner_flags_or_within_and_across(flags: list[str], keep: object) -> None:
    result = run(*flags, str(MRT_DIR / UPDATES))
    assert result.returncode == 0, result.stderr
    fields = _fields(UPDATES)
    want = [] if keep is None else [f for f in fields if keep(f)]  # type: ignore[operator]
    assert len(want) < len(fields)
    assert result.stdout.decode().splitlines(keepends=True) == ["|".join(f) + "\n" for f in want]


def test_bgpscanner_value_files(tmp_path: Path) -> None:
    prefixes = tmp_path / "prefixes.txt"
    prefixes.write_text("# more specifics of these\n62.0.0.0/8\n200.0.0.0/8  # and this\n")
    asns = tmp_path / "asns.txt"
    asns.write_text("286 13237\n")
    result = run("-S", str(prefixes), "-A", str(asns), str(MRT_DIR / UPDATES))
    assert result.returncode == 0, result.stderr
    want = [
        "|".join(f) + "\n"
        for f in _fields(UPDATES)
        if f[4] in ("286", "13237") and f[2] != "STATE" and f[5].split(".")[0] in ("62", "200")
    ]
    assert want and result.stdout.decode().splitlines(keepends=True) == want


def test_two_prefix_modes_conflict_as_in_bgpscanner() -> None:
    result = run("-e", "10.0.0.0/8", "-s", "10.0.0.0/8", str(MRT_DIR / UPDATES))
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        "mrtfeed: conflicting options in filter: -e, -s (use only one)"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-a", "286", "-m", "1:2:3"], "mrtfeed: -m '1:2:3': bad community '1:2:3'"),
        (["-P", "^1 x"], "mrtfeed: -P '^1 x': bad AS path expression '^1 x': "),
        (["-i", "1.2.3"], "mrtfeed: -i '1.2.3': bad IP address '1.2.3'"),
        (["-u", "10/8"], "mrtfeed: -u '10/8': bad prefix '10/8'"),
    ],
    ids=["m", "P", "i", "u"],
)
def test_a_bad_flag_value_names_the_flag(flags: list[str], message: str) -> None:
    """It was shown at a column of the expression the flags make, never typed."""
    result = run(*flags, str(MRT_DIR / UPDATES))
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().startswith(message)
    assert "column" not in result.stderr.decode()


def test_f_lists_the_feeders_that_pass() -> None:
    name = "bview.ipv4_unicast_add_path.gz"
    everyone = {(f[3], f[4]) for f in _fields(name)}
    result = run("-f", str(MRT_DIR / name))
    assert result.returncode == 0, result.stderr
    listed = [tuple(line.split(" ")) for line in result.stdout.decode().splitlines()]
    assert len(listed) == len(set(listed)) and set(listed) == everyone and len(everyone) > 1
    only = run("-f", "-a", "65015", str(MRT_DIR / name))
    assert only.stdout.decode() == "10.0.15.1 65015\n"


@pytest.mark.parametrize("skip", [False, True])
def test_f_lists_the_feeders_before_damage_or_past_it_when_skipping(
    tmp_path: Path, skip: bool
) -> None:
    """A bad record ended -f with no output at all, whatever came before it, and
    --skip-bad-records and --stats did nothing for -f."""
    data = gzip.decompress((MRT_DIR / "bview.ipv4_unicast_add_path.gz").read_bytes())
    records = list(iter_records(data))
    bad = len(records) // 2
    assert records[bad].type == 13 and records[bad].subtype in (8, 10)  # RIB, ADD-PATH
    cut = records[bad].offset
    damaged = bytearray(data)
    damaged[cut + 16] = 200  # the entry's prefix length
    (tmp_path / "damaged.mrt").write_bytes(damaged)
    end = records[bad + 1].offset
    expected = data[:cut] + data[end:] if skip else data[:cut]
    (tmp_path / "expected.mrt").write_bytes(expected)
    flags = ["--skip-bad-records"] if skip else []
    result = run("-f", "--stats", *flags, str(tmp_path / "damaged.mrt"))
    assert result.stdout == run("-f", str(tmp_path / "expected.mrt")).stdout != b""
    assert result.returncode == (0 if skip else 1)
    located = f"{tmp_path / 'damaged.mrt'}, byte offset {cut}, record {bad}: RIB prefix"
    assert located in result.stderr.decode()
    assert "Bad records\t1\n" in result.stderr.decode()


def test_f_followed_by_a_format_name_picks_the_output_format() -> None:
    # `mrtfeed parse -f bgpdump FILE` (scripts and the checks) keeps working
    # next to bgpscanner's `-f FILE`.
    name = "185.186.nlix.mrt"
    as_format = run("-f", "bgpdump", str(MRT_DIR / name))
    assert as_format.returncode == 0, as_format.stderr
    assert as_format.stdout.decode().splitlines(keepends=True) == reference_lines(name)
    as_json = run("-f", "json", str(MRT_DIR / name))
    assert as_json.stdout.startswith(b'{"schema_version":1')
    feeders = run(str(MRT_DIR / name), "-f")
    assert feeders.stdout.decode().split() == ["193.239.116.255", "34307"]


def test_json_event_ids_are_unique_across_the_files_of_a_run() -> None:
    """A local file has no project, collector or file time: every file hashed to the
    same id prefix, and the second file's events repeated the first file's ids."""
    names = ["updates.20100722.2015.gz", "ris.rrc06.updates.1427846400.gz"]
    result = run("-f", "json", *(str(MRT_DIR / name) for name in names))
    ids = [json.loads(line)["event_id"] for line in result.stdout.splitlines()]
    assert result.returncode == 0 and len(ids) > 1000
    assert len(set(ids)) == len(ids)
    again = run("-f", "json", str(MRT_DIR / names[1]))  # deterministic per file
    assert again.stdout in result.stdout


def test_no_input_file_is_a_usage_error() -> None:
    result = run("-f")
    assert result.returncode == 2 and b"no input" in result.stderr


@pytest.mark.parametrize("jobs", ["-1", "two"])
def test_a_jobs_count_below_zero_is_a_usage_error(jobs: str) -> None:
    """-j -1 meant one worker per core, silently."""
    result = run("--jobs", jobs, str(MRT_DIR / "quagga_rib"))
    assert result.returncode == 2 and b"argument -j/--jobs: " in result.stderr
    assert result.stdout == b""


@pytest.mark.parametrize("output_format", ["json", "bgpscanner"])
def test_large_communities_with_a_format_that_always_has_them_is_a_usage_error(
    output_format: str,
) -> None:
    """bgpdump's -l only changes -m lines; with the other formats it was silently
    ignored, leaving a user to wonder whether large communities were printed."""
    result = run("-f", output_format, "--large-communities", str(MRT_DIR / "quagga_rib"))
    assert result.returncode == 2 and b"always carry the large communities" in result.stderr
    assert result.stdout == b""


def test_every_filter_flag_counts_as_a_filter() -> None:
    """``any_filter`` names the flags itself (so that parsing without a filter does not
    import mrtfeed.filter): each field of BgpscannerFlags must be one of them."""
    from mrtfeed.cli.parse import FILTER_DESTS
    from mrtfeed.filter import BgpscannerFlags

    names = {f.name for f in fields(BgpscannerFlags)}
    assert names == {*FILTER_DESTS, "loops", "all_communities", "expression"}


@pytest.mark.parametrize(
    "flags", [["-a", "3356"], ["-L"], ["-l"], ["-e", "1.0.0.0/24"], ["--filter", "loop"]]
)
def test_a_flag_makes_a_filter(flags: list[str]) -> None:
    from mrtfeed.cli import build_parser
    from mrtfeed.cli.parse import any_filter

    assert any_filter(build_parser().parse_args(["parse", *flags, "x"]))
    assert not any_filter(build_parser().parse_args(["parse", "x"]))


def test_parsing_without_a_filter_imports_neither_the_filter_engine_nor_yaml() -> None:
    """What ``parse`` does not need costs its start: the service's config module and
    PyYAML, imported with the backfill command's module, added 0.1 s to every run
    (10 % of an UPDATE file)."""
    code = (
        "import sys; from mrtfeed.cli import main; "
        f"main(['parse', '--stats', {str(MRT_DIR / 'bird_bgp')!r}]); "
        "print([m for m in ('mrtfeed.filter', 'mrtfeed.config', 'yaml') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines()[-1] == "[]"


def _whole_records(name: str, size: int) -> bytes:
    """The whole records in the first ``size`` decompressed bytes of a shared file."""
    data = (MRT_DIR / name).read_bytes()
    if name.endswith(".bz2"):
        head = bz2.BZ2Decompressor().decompress(data, size)
    else:
        head = gzip.decompress(data)[:size]
    chunk = RecordSplitter().feed_chunk(head)
    assert chunk is not None
    return chunk.data


def _streams(data: bytes, cut: int) -> bytes:
    """pbzip2's way: one bz2 stream of 100 kB blocks per ``cut`` bytes, cut anywhere
    (records straddle blocks and streams)."""
    return b"".join(bz2.compress(data[at : at + cut], 1) for at in range(0, len(data), cut))


@pytest.mark.parametrize("name", ["updates.20190101.0000.gz", "rib6.20151101.0600_firstMB.bz2"])
def test_bz2_blocks_decompressed_by_the_workers_give_the_same_lines(
    tmp_path: Path, name: str
) -> None:
    """With --jobs 2 the workers decompress a bz2 file's blocks and hand the framing
    on (a RIB's peer index table with it): the lines are those of the reference."""
    data = _whole_records(name, 8_000_000)  # all of the UPDATE file
    path = tmp_path / "streams.bz2"
    path.write_bytes(_streams(data, 1_234_567))
    result = run("--jobs", "2", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines(keepends=True)
    reference = reference_lines(name)
    assert len(lines) > 10_000 and lines == reference[: len(lines)]
    if name.startswith("updates"):
        assert lines == reference


def _ends_after_good_records(damaged: Path, jobs: str, good: bytes, message: str) -> int:
    """``parse --jobs JOBS DAMAGED`` prints the lines of the whole records ``good``
    starts with, then names the damage ``message`` where they end (status 1);
    returns how many records that is."""
    splitter = RecordSplitter()
    before = splitter.feed_chunk(good)
    assert before is not None
    expected = damaged.with_name("before.mrt")
    expected.write_bytes(before.data)
    result = run("--jobs", jobs, str(damaged))
    assert result.returncode == 1
    assert result.stdout == run(str(expected)).stdout
    assert result.stderr.decode() == (
        f"mrtfeed: {damaged}, byte offset {splitter.offset}, record {splitter.index}: {message}\n"
    )
    return splitter.index


@JOBS
def test_a_damaged_bz2_block_ends_the_output_at_the_records_before_it(
    tmp_path: Path, jobs: str
) -> None:
    """Every whole record of the blocks before the damaged one comes out (--jobs 1
    used to lose a block's worth), then the damage, placed where they end."""
    data = _whole_records("updates.20190101.0000.gz", 3_000_000)
    stream = bytearray(bz2.compress(data, 1))
    magics = find_block_magics(bytes(stream))
    stream[(magics[10] + magics[11]) // 16] ^= 0x55
    damaged = tmp_path / "damaged.bz2"
    damaged.write_bytes(stream)
    good = BlockSplitter().feed(bytes(stream))[:10]
    good_data = b"".join(decompress_block(block) for block in good)
    _ends_after_good_records(damaged, jobs, good_data, "corrupt bz2 data: Invalid data stream")


@JOBS
def test_a_bad_bz2_stream_crc_keeps_every_block(tmp_path: Path, jobs: str) -> None:
    """Every block passes its own CRC: all the records come out, then the damage at
    their end. The last block used to be lost with the stream's CRC (8,100 lines)."""
    name = "updates.example.bz2"
    stream = bytearray((MRT_DIR / name).read_bytes())
    stream[-2] ^= 1  # inside the stream CRC, after the end marker
    damaged = tmp_path / "damaged.bz2"
    damaged.write_bytes(stream)
    whole = bz2.decompress((MRT_DIR / name).read_bytes())
    _ends_after_good_records(damaged, jobs, whole, "corrupt bz2 data: Invalid data stream")


@JOBS
def test_a_damaged_gzip_file_keeps_every_record_inflated_before_the_damage(
    tmp_path: Path, jobs: str
) -> None:
    """One failing zlib call used to take up to 2 MB of good records with it (28,000
    lines here, fewer with -f json's smaller reads); the error named the start of
    the last read instead of where the records end."""
    stream = bytearray((MRT_DIR / "updates.20190101.0000.gz").read_bytes())
    stream[763_171] ^= 0xFF  # breaks a block's header at about 4.3 MB of output
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(stream)
    message = "corrupt gzip data: Error -3 while decompressing data: invalid literal/lengths set"
    records = _ends_after_good_records(
        damaged, jobs, inflated_before_damage(bytes(stream)), message
    )
    assert records > 32_000


@JOBS
@pytest.mark.parametrize("where", ["middle", "start"])
def test_damage_among_small_bz2_blocks_keeps_every_block_before_it(
    tmp_path: Path, jobs: str, where: str
) -> None:
    """Blocks of repetitive data compress to 5 kB, and damage at a block's start (its
    symbol map) is found as soon as the block begins: either way the in-order
    decompressor fails in the call that makes the good blocks before, and drops their
    output. Both --jobs 1 (which reads a damaged file's good blocks again) and the
    workers write every whole record of those blocks, then place the damage after them."""
    data = _whole_records("updates.20190101.0000.gz", 20_000) * 80
    stream = bytearray(bz2.compress(data, 1))
    magics = find_block_magics(bytes(stream))
    assert len(magics) > 8
    # After the magic (48 bits), CRC (32), randomised bit and origPtr (25): the map
    # of the 16-byte ranges in use.
    bit = magics[6] + 112 if where == "start" else (magics[5] + magics[6]) // 2
    stream[bit // 8] ^= 0x55
    damaged = tmp_path / "damaged.bz2"
    damaged.write_bytes(stream)
    splitter = RecordSplitter()
    good = BlockSplitter().feed(bytes(stream))[: 6 if where == "start" else 5]
    before = splitter.feed_chunk(b"".join(decompress_block(block) for block in good))
    assert before is not None
    expected = tmp_path / "before.bz2"
    expected.write_bytes(bz2.compress(before.data))
    result = run("--jobs", jobs, str(damaged))
    assert result.returncode == 1
    assert result.stdout == run(str(expected)).stdout
    assert result.stderr.decode() == (
        f"mrtfeed: {damaged}, byte offset {splitter.offset}, record {splitter.index}: "
        "corrupt bz2 data: Invalid data stream\n"
    )


def test_bz2_blocks_too_large_for_a_worker_are_read_in_order(tmp_path: Path) -> None:
    """Records of 12 MB of zeros (an unknown MRT type, counted and skipped) make bz2
    blocks of 12 MB and more: they go to the in-order reader, and the lines, counts and
    exit status are those of --jobs 1."""
    zeros = struct.pack(">IHHI", 0, 99, 0, 12_000_000) + bytes(12_000_000)
    updates = (MRT_DIR / "bird_bgp").read_bytes()
    path = tmp_path / "zeros.bz2"
    path.write_bytes(bz2.compress(updates + zeros + updates + zeros + updates))
    one = run("--stats", str(path))
    two = run("--stats", "--jobs", "2", str(path))
    assert one.returncode == two.returncode == 0
    assert (one.stdout, one.stderr) == (two.stdout, two.stderr)
    assert "TYPE_99/SUBTYPE_0\t2" in two.stderr.decode()


def _block_starts(mrt: bytes) -> list[int]:
    """Where the 100 kB blocks of ``bz2.compress(mrt, 1)`` start in ``mrt``."""
    starts = [0]
    for block in BlockSplitter().feed(bz2.compress(mrt, 1)):
        starts.append(starts[-1] + len(decompress_block(block)))
    return starts


def _index_past(records: list[bytes], at: int) -> int:
    """The index of the first of ``records`` (joined) that starts at byte ``at`` or later."""
    pos = count = 0
    while pos < at:
        pos += len(records[count])
        count += 1
    return count


def _same_with_jobs(path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    one = run(*args, str(path))
    two = subprocess.run(
        [sys.executable, "-m", "mrtfeed.cli", "parse", "--jobs", "2", *args, str(path)],
        capture_output=True,
        check=False,
        timeout=120,  # a worker waiting for a turn that never comes
    )
    assert (two.returncode, two.stderr.decode()) == (one.returncode, one.stderr.decode())
    assert two.stdout == one.stdout
    return one


@pytest.mark.parametrize("skip", [False, True])
def test_a_damaged_peer_table_in_a_bz2_rib_reads_the_same_with_jobs(
    tmp_path: Path, skip: bool
) -> None:
    """A second PEER_INDEX_TABLE announcing 60,000 peers it does not hold, just inside
    a block: a bad record, and the first table stays in force. With --jobs 2 a worker
    decoding a block ahead under it used to raise before its turn, and the blocks
    after it waited for that turn for ever; with --skip-bad-records the chunks after
    it carried it to workers that could not install it (a traceback)."""
    records = list(iter_records(_whole_records(JINX, 3_000_000)))
    table = bytearray(records[0].body)
    struct.pack_into(">H", table, 6 + struct.unpack_from(">H", table, 4)[0], 60_000)
    entries = [framed(record) for record in records[1:]]
    head = framed(records[0])
    at = _index_past(entries, _block_starts(head + b"".join(entries))[8] + 200 - len(head))
    entries.insert(at, framed(records[0], bytes(table)))
    path = tmp_path / "rib.bz2"
    path.write_bytes(bz2.compress(head + b"".join(entries), 1))
    result = _same_with_jobs(path, *(["--skip-bad-records"] if skip else []))
    assert result.returncode == (0 if skip else 1)
    damage = f"record {at + 1}: TABLE_DUMP_V2/PEER_INDEX_TABLE record body of"
    assert damage in result.stderr.decode()


def test_a_rib_entry_before_any_peer_table_reads_the_same_with_jobs(tmp_path: Path) -> None:
    """UPDATEs, then a RIB entry just inside a block, UPDATEs again and a
    PEER_INDEX_TABLE in the same block, then RIB entries: the entry names a peer of no
    table (--jobs 1 stops there). A worker that decoded that block ahead from after
    the entry read the table, gave the guess up, and decoded the block again under
    that table: the entry was printed."""
    updates = list(iter_records(_whole_records("updates.20190101.0000.gz", 1_000_000)))
    rib = list(iter_records(_whole_records(JINX, 300_000)))
    entries = [framed(record) for record in updates]
    tail = [framed(record) for record in rib[1:]]
    at = _index_past(entries, _block_starts(b"".join(entries + tail))[5])
    entries[at + 6 : at + 6] = [framed(rib[0])]
    entries[at:at] = [framed(rib[1])]
    path = tmp_path / "mixed.bz2"
    path.write_bytes(bz2.compress(b"".join(entries + tail), 1))
    result = _same_with_jobs(path)
    assert result.returncode == 1
    assert "names peer" in result.stderr.decode()
