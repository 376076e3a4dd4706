#!/usr/bin/env python3
"""A real single-node Apache Kafka broker (KRaft) for mrtfeed's tests.

Why this exists: the Kafka sink must be tested against the genuine broker, not
a fake, because what matters (idempotence, transactions, read_committed,
restarts) lives in the broker.  There is no Docker and no internet here, only
Maven Central, so the broker's jars are resolved from there with ``pom.xml``
and the broker runs as a plain JVM process bound to loopback only.

Stdlib only, so that CI can call it before any virtualenv exists::

    python tests/support/kafka/broker.py fetch
    python tests/support/kafka/broker.py start --dir DIR [--port N]
    python tests/support/kafka/broker.py stop --dir DIR

and importable for the pytest fixture::

    libs = fetch_jars()
    broker = start_broker(tmp_dir)      # free ports picked at run time
    broker.bootstrap                    # "127.0.0.1:PORT"
    broker.restart()                    # same log dir, same port
    broker.stop()
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

KAFKA_VERSION = os.environ.get("MRTFEED_KAFKA_VERSION", "4.4.0")
"""Kafka release under test; see README.md for why this one."""

HOST = "127.0.0.1"
"""Loopback only: test traffic must never leave the machine."""

POM = Path(__file__).resolve().with_name("pom.xml")
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
FORMAT_TIMEOUT_S = 120.0
FETCH_TIMEOUT_S = 600.0

_COMPLETE_MARKER = ".complete"
_PID_FILE = "broker.pid"
_CONFIG_FILE = "server.properties"
_LOG4J_FILE = "log4j2.properties"
_STDOUT_FILE = "broker.out"
_SERVER_LOG = "server.log"


class BrokerError(RuntimeError):
    """The broker could not be fetched, formatted, started or stopped."""


# --------------------------------------------------------------------- jars


def cache_root() -> Path:
    """Where downloads are kept between runs (``$MRTFEED_CACHE`` or ~/.cache)."""
    env = os.environ.get("MRTFEED_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mrtfeed"


def libs_dir(version: str = KAFKA_VERSION) -> Path:
    """The directory holding every jar the broker needs at run time."""
    return cache_root() / f"kafka-{version}" / "libs"


def jars_present(version: str = KAFKA_VERSION) -> bool:
    """True when a previous fetch completed (the marker is written last)."""
    return (libs_dir(version) / _COMPLETE_MARKER).is_file()


def fetch_jars(version: str = KAFKA_VERSION, *, quiet: bool = True) -> Path:
    """Resolve the broker's jars with Maven into the cache; no-op when there.

    The copy goes to a temporary sibling directory that is renamed into place
    only after Maven succeeded, so an interrupted fetch never leaves a
    half-filled ``libs`` that a later run would mistake for a good one.
    """
    target = libs_dir(version)
    if jars_present(version):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "Maven ('mvn') is not on PATH: it is needed once to download the Kafka "
            f"{version} jars from Maven Central (apt-get install maven)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs.", dir=target.parent))
    try:
        cmd = [
            mvn,
            "-q" if quiet else "-e",
            "-B",
            "-Dstyle.color=never",
            "-f",
            str(POM),
            f"-Dkafka.version={version}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S, check=False
        )
        jars = list(staging.glob("*.jar"))
        if proc.returncode != 0 or not any(j.name.startswith("kafka_2.13-") for j in jars):
            raise BrokerError(
                f"fetching Kafka {version} jars failed (exit {proc.returncode}): "
                f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
            )
        (staging / _COMPLETE_MARKER).write_text(f"{len(jars)} jars\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def java_executable() -> str:
    """The ``java`` to run the broker with (``$JAVA_HOME`` wins, like Kafka's scripts)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise BrokerError("no 'java' on PATH and no JAVA_HOME: Kafka 4 needs Java 17+")
    return found


# ------------------------------------------------------------ wire protocol


def _free_ports(count: int) -> list[int]:
    """Ports the kernel says are free on loopback now.

    All sockets are held open until every port is chosen so that the same port
    is never handed out twice; the tiny window before the broker binds them is
    accepted (a clash shows up as a clear start failure, not a flaky test).
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def _kafka_request(
    sock: socket.socket, api_key: int, api_version: int, correlation_id: int, body: bytes
) -> bytes:
    """Send one non-flexible request (header v1) and return the response body."""
    client_id = b"mrtfeed-broker-probe"
    header = struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id))
    payload = header + client_id + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    response = _recv_exact(sock, size)
    (got_id,) = struct.unpack_from(">i", response)
    if got_id != correlation_id:
        raise ConnectionError(f"correlation id {got_id} != {correlation_id}")
    return response[4:]


def _read_string(buf: bytes, pos: int) -> tuple[str | None, int]:
    (length,) = struct.unpack_from(">h", buf, pos)
    pos += 2
    if length < 0:
        return None, pos
    return buf[pos : pos + length].decode(), pos + length


def probe(host: str, port: int, timeout: float = 2.0) -> list[tuple[int, str, int]]:
    """Ask the broker for its live brokers with real Kafka requests.

    A bare TCP connect is not enough: Kafka binds its listener early but only
    answers requests once it has caught up with the metadata log, and only
    lists itself in Metadata once the controller has unfenced it, which is the
    moment producers and consumers can actually use it.  ApiVersions v0 and
    Metadata v4 are both still served by Kafka 4 (and 3.x).
    Returns ``[(node_id, host, port), ...]``; raises ``OSError`` when not ready.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        api_versions = _kafka_request(sock, 18, 0, 1, b"")
        (error,) = struct.unpack_from(">h", api_versions)
        if error:
            raise ConnectionError(f"ApiVersions error code {error}")
        # Metadata v4: topics=[] (no topics), allow_auto_topic_creation=false
        meta = _kafka_request(sock, 3, 4, 2, struct.pack(">i?", 0, False))
        pos = 4  # throttle_time_ms
        (count,) = struct.unpack_from(">i", meta, pos)
        pos += 4
        brokers = []
        for _ in range(count):
            (node_id,) = struct.unpack_from(">i", meta, pos)
            bhost, pos = _read_string(meta, pos + 4)
            (bport,) = struct.unpack_from(">i", meta, pos)
            _rack, pos = _read_string(meta, pos + 4)
            brokers.append((node_id, bhost or "", bport))
        return brokers


# ------------------------------------------------------------- log segments

_CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")  # record batch v2, 61 bytes


@dataclass(frozen=True)
class RecordBatchHeader:
    """What the broker actually stored for one record batch (magic v2).

    Clients decompress and hide control batches, so only the segment file
    shows whether a producer really compressed, was really idempotent
    (producer id >= 0) or transactional, and where commit/abort markers went.
    """

    base_offset: int
    last_offset: int
    magic: int
    compression: str
    transactional: bool
    control: bool
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records: int


def read_batches(partition_dir: Path) -> list[RecordBatchHeader]:
    """Parse the batch headers of every ``*.log`` segment in ``partition_dir``.

    Safe while the broker runs: acknowledged batches are in the page cache,
    and a torn batch at the very end (still being appended) is ignored.
    """
    batches = []
    for segment in sorted(partition_dir.glob("*.log")):
        data = segment.read_bytes()
        pos = 0
        while pos + _BATCH_HEADER.size <= len(data):
            (
                base_offset,
                length,
                _leader_epoch,
                magic,
                _crc,
                attributes,
                last_delta,
                _first_ts,
                _max_ts,
                producer_id,
                producer_epoch,
                base_sequence,
                records,
            ) = _BATCH_HEADER.unpack_from(data, pos)
            end = pos + 12 + length  # length counts from the leader epoch on
            if length <= 0 or end > len(data):
                break
            batches.append(
                RecordBatchHeader(
                    base_offset=base_offset,
                    last_offset=base_offset + last_delta,
                    magic=magic,
                    compression=_CODECS[attributes & 0x07],
                    transactional=bool(attributes & 0x10),
                    control=bool(attributes & 0x20),
                    producer_id=producer_id,
                    producer_epoch=producer_epoch,
                    base_sequence=base_sequence,
                    records=records,
                )
            )
            pos = end
    return batches


# ------------------------------------------------------------------ process


#: Credentials of the SASL listener (PLAIN users in the JAAS line, SCRAM users created
#: when the storage is formatted). Test-only secrets on a loopback broker.
SASL_USER = "mrtfeed"
SASL_PASSWORD = "mrtfeed-test-secret"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def _config_text(directory: Path, port: int, controller_port: int, sasl_port: int) -> str:
    """KRaft single node, everything replicated once, tuned for quick tests.

    Besides PLAINTEXT it listens with SASL_PLAINTEXT (PLAIN and SCRAM), so the
    sink's authentication options are tested against the real broker too.
    """
    data = directory / "data"
    plain_jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'user_{SASL_USER}="{SASL_PASSWORD}";'
    )
    scram_jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port},"
        f"SASL_PLAINTEXT://{HOST}:{sasl_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port},SASL_PLAINTEXT://{HOST}:{sasl_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": ",".join(("PLAIN", *SCRAM_MECHANISMS)),
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas,
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": scram_jaas,
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": scram_jaas,
        "log.dirs": str(data),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # after a crash the restarted node waits for its old incarnation's
        # session to expire before it may register again: keep that short
        "broker.heartbeat.interval.ms": "500",
        "broker.session.timeout.ms": "3000",
        "log.segment.bytes": str(8 * 1024 * 1024),
        "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def _log4j_text(directory: Path) -> str:
    """log4j2 config: everything to DIR/server.log, nothing to the console."""
    log = directory / _SERVER_LOG
    return (
        "status = warn\n"
        "appender.file.type = File\n"
        "appender.file.name = FILE\n"
        f"appender.file.fileName = {log}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.file.ref = FILE\n"
        "logger.controller.name = org.apache.kafka.controller\n"
        "logger.controller.level = INFO\n"
        "logger.state.name = state.change.logger\n"
        "logger.state.level = WARN\n"
    )


def _read_ports(config: Path) -> tuple[int, int]:
    """Recover (broker, controller) ports from an existing server.properties."""
    port = controller = 0
    for line in config.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "listeners":
            for listener in value.split(","):
                name, _, addr = listener.partition("://")
                number = int(addr.rsplit(":", 1)[1])
                if name == "PLAINTEXT":
                    port = number
                elif name == "CONTROLLER":
                    controller = number
    if not port or not controller:
        raise BrokerError(f"no PLAINTEXT/CONTROLLER listeners in {config}")
    return port, controller


def _random_cluster_id() -> str:
    """A Kafka-style Uuid string (url-safe base64 of 16 random bytes).

    Kafka refuses ids that start with '-', since they read as CLI options.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no file)"


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; reaps it first when it is our own child."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie that is not our child still answers kill(0)
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _is_our_broker(pid: int, config: Path) -> bool:
    """Guard against pid reuse: only signal the JVM started on this config."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"kafka.Kafka" in cmdline and str(config).encode() in cmdline


@dataclass
class Broker:
    """A running (or stopped) single-node KRaft broker owning ``directory``."""

    directory: Path
    port: int
    controller_port: int
    version: str = KAFKA_VERSION
    pid: int | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        """``bootstrap_servers`` for clients: always loopback."""
        return f"{HOST}:{self.port}"

    @property
    def config(self) -> Path:
        return self.directory / _CONFIG_FILE

    @property
    def sasl_bootstrap(self) -> str:
        """``bootstrap_servers`` of the SASL_PLAINTEXT listener (PLAIN and SCRAM users
        :data:`SASL_USER` / :data:`SASL_PASSWORD`)."""
        for line in self.config.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == "listeners":
                for listener in value.split(","):
                    name, _, address = listener.partition("://")
                    if name == "SASL_PLAINTEXT":
                        return address
        raise BrokerError(f"no SASL_PLAINTEXT listener in {self.config}")

    @property
    def server_log(self) -> Path:
        """The broker's own log4j output, the first place to look on failure."""
        return self.directory / _SERVER_LOG

    def batches(self, topic: str, partition: int = 0) -> list[RecordBatchHeader]:
        """The record batches stored for ``topic``/``partition``, oldest first."""
        return read_batches(self.directory / "data" / f"{topic}-{partition}")

    def _java_base(self) -> list[str]:
        libs = libs_dir(self.version)
        if not (libs / _COMPLETE_MARKER).is_file():
            raise BrokerError(
                f"Kafka {self.version} jars are missing in {libs}: run "
                "`python tests/support/kafka/broker.py fetch` (tests/support/kafka/ci.sh)"
            )
        return [
            java_executable(),
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.directory / _LOG4J_FILE}",
            f"-Dkafka.logs.dir={self.directory}",
            "-cp",
            f"{libs}/*",
        ]

    def _format(self) -> None:
        """Write meta.properties + the bootstrap checkpoint, once per log dir.

        ``--standalone`` makes this node the sole voter of a dynamic
        (KIP-853) quorum, which is what ``controller.quorum.bootstrap.servers``
        expects.  Skipped when the log dir is already formatted, so a restart
        keeps every record and the cluster id.
        """
        if (self.directory / "data" / "meta.properties").is_file():
            return
        cmd = [
            *self._java_base(),
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            _random_cluster_id(),
            "-c",
            str(self.config),
        ]
        for mechanism in SCRAM_MECHANISMS:
            cmd += ["--add-scram", f"{mechanism}=[name={SASL_USER},password={SASL_PASSWORD}]"]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
        )
        if proc.returncode != 0:
            raise BrokerError(
                f"kafka-storage format failed (exit {proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Launch the JVM and return once the broker serves requests."""
        if self.pid is not None and _pid_alive(self.pid):
            raise BrokerError(f"broker in {self.directory} already runs as pid {self.pid}")
        self._format()
        out = (self.directory / _STDOUT_FILE).open("ab")
        try:
            self._popen = subprocess.Popen(
                [*self._java_base(), "kafka.Kafka", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                # own session: a Ctrl-C aimed at pytest must not kill the broker
                # before the fixture's orderly stop, and `start` may outlive us
                start_new_session=True,
            )
        finally:
            out.close()
        self.pid = self._popen.pid
        (self.directory / _PID_FILE).write_text(f"{self.pid}\n")
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        """Poll with real Kafka requests until the broker lists itself."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.pid is None or not _pid_alive(self.pid):
                raise BrokerError(
                    f"Kafka broker exited during start-up; {self.server_log}:\n"
                    f"{_tail(self.server_log)}\n{_tail(self.directory / _STDOUT_FILE)}"
                )
            try:
                brokers = probe(HOST, self.port)
            except (OSError, struct.error) as exc:
                last = exc
            else:
                if (1, HOST, self.port) in brokers:
                    return
                last = BrokerError(f"metadata lists {brokers}, not node 1 yet")
            time.sleep(0.1)  # poll interval, not synchronisation
        raise BrokerError(
            f"Kafka broker not ready on {self.bootstrap} after {timeout:.0f}s "
            f"(last: {last!r}); {self.server_log}:\n{_tail(self.server_log)}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT_S, *, hard: bool = False) -> None:
        """SIGTERM (controlled shutdown, clean logs), SIGKILL after ``timeout``.

        ``hard=True`` sends SIGKILL at once: a crash, after which the broker
        must recover its logs on the next start.  Caveat (README.md): on this
        single node Kafka may drop the markers of a transaction that was
        committed but not yet completed at the crash.
        """
        pid = self.pid
        if pid is None:
            return
        steps = [(signal.SIGKILL, 10.0)]
        if not hard:
            steps.insert(0, (signal.SIGTERM, timeout))
        for sig, wait in steps:
            if not _pid_alive(pid):
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)  # poll interval for the exit condition
        if _pid_alive(pid):
            raise BrokerError(f"Kafka broker pid {pid} survived SIGKILL")
        self.pid = None
        self._popen = None
        with contextlib.suppress(FileNotFoundError):
            (self.directory / _PID_FILE).unlink()

    def restart(self, timeout: float = START_TIMEOUT_S, *, hard: bool = False) -> None:
        """Stop (or crash, ``hard=True``) and start again on the same port and
        log dir, so clients can reconnect to the same bootstrap (chaos tests)."""
        self.stop(hard=hard)
        self.start(timeout)

    @property
    def running(self) -> bool:
        return self.pid is not None and _pid_alive(self.pid)


def start_broker(
    directory: Path | str,
    port: int | None = None,
    *,
    version: str = KAFKA_VERSION,
    timeout: float = START_TIMEOUT_S,
) -> Broker:
    """Start a broker whose config, data and logs all live in ``directory``.

    Fresh directory: free loopback ports are picked (``port`` if given), the
    config written and the storage formatted.  Existing directory: its config
    and data are reused, so a second ``start`` after ``stop`` continues the
    same cluster on the same ports.
    """
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / _CONFIG_FILE
    if config.is_file():
        running = attach(directory, version=version)
        if running.running:
            raise BrokerError(f"a broker already runs in {directory} (pid {running.pid})")
        old_port, controller_port = _read_ports(config)
        if port is not None and port != old_port:
            raise BrokerError(f"{directory} was set up for port {old_port}, not {port}")
        port = old_port
    else:
        picked = [p for p in _free_ports(3) if p != port]
        port = picked.pop(0) if port is None else port
        controller_port, sasl_port = picked[0], picked[1]
        config.write_text(_config_text(directory, port, controller_port, sasl_port))
    (directory / _LOG4J_FILE).write_text(_log4j_text(directory))
    broker = Broker(directory, port, controller_port, version)
    broker.start(timeout)
    return broker


def attach(directory: Path | str, *, version: str = KAFKA_VERSION) -> Broker:
    """A handle on the broker that ``start`` left running in ``directory``."""
    directory = Path(directory).resolve()
    config = directory / _CONFIG_FILE
    if not config.is_file():
        raise BrokerError(f"no broker was set up in {directory}")
    port, controller_port = _read_ports(config)
    broker = Broker(directory, port, controller_port, version)
    with contextlib.suppress(FileNotFoundError, ValueError):
        pid = int((directory / _PID_FILE).read_text().strip())
        if _is_our_broker(pid, config):
            broker.pid = pid
    return broker


# ---------------------------------------------------------------------- CLI


@contextlib.contextmanager
def _cli_errors() -> Iterator[None]:
    try:
        yield
    except BrokerError as exc:
        print(f"broker.py: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kafka-version", default=KAFKA_VERSION, help="Kafka release")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download the broker jars into the cache (idempotent)")
    start = sub.add_parser("start", help="start a broker in DIR and print its bootstrap")
    start.add_argument("--dir", required=True, type=Path)
    start.add_argument("--port", type=int, default=None)
    stop = sub.add_parser("stop", help="stop the broker running in DIR")
    stop.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)

    with _cli_errors():
        if args.command == "fetch":
            print(fetch_jars(args.kafka_version))
        elif args.command == "start":
            fetch_jars(args.kafka_version)
            broker = start_broker(args.dir, args.port, version=args.kafka_version)
            print(broker.bootstrap)
        else:
            attach(args.dir, version=args.kafka_version).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
