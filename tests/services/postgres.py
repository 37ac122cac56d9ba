"""A real PostgreSQL server for the test session (pytest plugin) and for the benchmarks.

Fixtures:
- ``postgres_url`` (session): ``postgresql://postgres@127.0.0.1:PORT/diagnostic_operator_test`` of a
  throw-away server started with ``initdb`` + ``pg_ctl`` (as the ``postgres`` user when running as root),
  listening only on 127.0.0.1, fsync off. ``DIAGNOSTIC_OPERATOR_TEST_DATABASE_URL`` uses an existing
  server instead (its user needs CREATEDB); ``DIAGNOSTIC_OPERATOR_TEST_PG_PORT`` fixes the port.
- ``pg_engine`` (function): an engine on a fresh database, cloned from a migrated template.
- ``sqlite_url`` / ``sqlite_engine`` (function): the SQLite twin, migrated.
- ``db_engine`` (function, parametrized ``sqlite`` / ``postgresql``): the same test on both.

Missing server binaries are an error, not a skip: ``tests/run`` installs them
(``tests/services/ensure-postgres-packages``).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from diagnostic_operator.db.engine import create_engine_for, upgrade
from tests.helpers import free_port

URL_ENV = "DIAGNOSTIC_OPERATOR_TEST_DATABASE_URL"
PORT_ENV = "DIAGNOSTIC_OPERATOR_TEST_PG_PORT"
BINDIR_ENV = "DIAGNOSTIC_OPERATOR_PG_BINDIR"
#: The cluster layer's address of this machine that Pods on the Pod network reach (the test node's IP), and
#: the Pods' range: the test services listen there too, so execution Pods need no host network.
SERVICE_HOST_ENV = "DIAGNOSTIC_OPERATOR_TEST_SERVICE_HOST"
POD_CIDR_ENV = "DIAGNOSTIC_OPERATOR_TEST_POD_CIDR"


def service_host() -> str | None:
    """The address of this machine that the test cluster's Pods reach, when the cluster layer set one."""
    return os.environ.get(SERVICE_HOST_ENV) or None


def for_pods(url: str) -> str:
    """``url`` (a service on 127.0.0.1) as a Pod on the Pod network reaches it: the service host instead."""
    host = service_host()
    if host is None:
        return url
    return make_url(url).set(host=host).render_as_string(hide_password=False)
SERVICE_USER = "postgres"
DATABASE = "diagnostic_operator_test"
TEMPLATE = "diagnostic_operator_template"

MISSING_MESSAGE = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found in $"
    + BINDIR_ENV
    + ", `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH. The integration tests need a "
    "real PostgreSQL server: run them through `tests/run`, which installs the server packages "
    "(tests/services/ensure-postgres-packages: apt-get install postgresql), or set "
    + URL_ENV
    + "=postgresql://user:password@host:port/db to use a server you already have."
)


class PostgresUnavailable(RuntimeError):
    pass


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates: list[str] = []
    if os.environ.get(BINDIR_ENV):
        candidates.append(os.environ[BINDIR_ENV])
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            candidates.append(out.stdout.strip())

    def version(path: str) -> tuple[int, ...]:
        m = re.search(r"/postgresql/(\d+)(?:\.(\d+))?/", path + "/")
        return tuple(int(g) for g in m.groups() if g) if m else (0,)

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        path = Path(candidate)
        if all((path / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return path
    raise PostgresUnavailable(MISSING_MESSAGE)


def _ensure_service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


@dataclass
class PostgresServer:
    """A running throw-away server. ``url`` points at its ``postgres`` database."""

    bindir: Path
    base: Path
    port: int
    as_user: str | None  # run commands through `runuser -u USER` (when we are root)
    own_base: bool = True
    options: str = ""  # the server options it was started with (``halt``/``resume`` reuse them)
    _stopped: bool = field(default=False, repr=False)

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)

    def create_database(self, name: str) -> str:
        engine = create_engine_for(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).first()
                if not exists:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def halt(self) -> None:
        """Stop the server as a crash would (``-m immediate``), keeping its data: ``resume()`` starts it again.
        For the fault suite: the database disappears under its clients."""
        done = self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop",
                        timeout=60)
        if done.returncode != 0:
            raise PostgresUnavailable(f"pg_ctl stop failed: {done.stdout}{done.stderr}")

    def resume(self) -> None:
        """Start a ``halt``-ed server again on the same port, with the same options."""
        done = self.run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                        "-o", self.options, "-w", "-t", "60", "start", timeout=120)
        if done.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise PostgresUnavailable(f"pg_ctl start failed: {done.stdout}{done.stderr}{log}")

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.run(
            str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop", timeout=60
        )
        if self.own_base:
            shutil.rmtree(self.base, ignore_errors=True)


def start_postgres(base: Path | None = None, *, port: int | None = None) -> PostgresServer:
    """initdb a new cluster under ``base`` (a new temp dir by default) and start it on 127.0.0.1."""
    bindir = find_bindir()
    own_base = base is None
    base = Path(tempfile.mkdtemp(prefix="dxop-pg-")) if base is None else base
    base.mkdir(parents=True, exist_ok=True)
    as_user = None
    if os.geteuid() == 0:
        user = _ensure_service_user()
        as_user = SERVICE_USER
        os.chown(base, user.pw_uid, user.pw_gid)
        base.chmod(0o700)
    if port is None and os.environ.get(PORT_ENV):
        port = int(os.environ[PORT_ENV])
    server = PostgresServer(bindir, base, port or free_port(), as_user, own_base)
    init = server.run(
        str(bindir / "initdb"),
        "-D",
        str(server.datadir),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
        timeout=300,
    )
    if init.returncode != 0:
        raise PostgresUnavailable(f"initdb failed in {server.datadir}:\n{init.stdout}\n{init.stderr}")
    listen = "127.0.0.1"
    pods = service_host()
    if pods is not None:  # the cluster layer: Pods on the Pod network connect to the node's address
        listen = f"127.0.0.1,{pods}"
        cidr = os.environ.get(POD_CIDR_ENV, "10.214.0.0/24")
        with (server.datadir / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {pods}/32 trust\nhost all all {cidr} trust\n")
    options = " ".join(
        [
            f"-c listen_addresses={listen}",
            f"-c port={server.port}",
            f"-c unix_socket_directories={base}",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
            "-c max_connections=200",
            "-c shared_buffers=256MB",
            "-c max_wal_size=2GB",
        ]
    )
    for tries in itertools.count(1):
        started = server.run(
            str(bindir / "pg_ctl"),
            "-D",
            str(server.datadir),
            "-l",
            str(server.logfile),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
            timeout=120,
        )
        if started.returncode == 0:
            server.options = options
            break
        log = server.logfile.read_text(errors="replace") if server.logfile.exists() else ""
        if "could not bind" in log and tries < 5 and not os.environ.get(PORT_ENV):
            server.port = free_port()  # lost a race for the port: pick another
            options = re.sub(r"-c port=\d+", f"-c port={server.port}", options)
            continue
        raise PostgresUnavailable(
            f"PostgreSQL did not start:\n{started.stdout}\n{started.stderr}\n{log[-4000:]}"
        )
    atexit.register(server.stop)
    deadline = time.monotonic() + 30
    while True:  # pg_ctl -w waited for the socket; make sure TCP answers too
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return server


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a database on a real PostgreSQL server, for the whole session."""
    external = os.environ.get(URL_ENV)
    if external:
        yield external
        return
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server.create_database(DATABASE)
    finally:
        server.stop()


def _admin_engine(url: str) -> Engine:
    return create_engine_for(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def _pg_template(postgres_url: str) -> Iterator[str]:
    """A migrated template database; each test clones it (CREATE DATABASE … TEMPLATE is fast)."""
    template = f"{TEMPLATE}_{os.getpid()}"
    admin = _admin_engine(postgres_url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{template}"'))
        conn.execute(text(f'CREATE DATABASE "{template}"'))
    template_url = make_url(postgres_url).set(database=template).render_as_string(hide_password=False)
    upgrade(template_url)
    try:
        yield template
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        admin.dispose()


_counter = itertools.count()
_counter_lock = threading.Lock()


@pytest.fixture
def pg_url(postgres_url: str, _pg_template: str) -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database for one test (dropped afterwards)."""
    with _counter_lock:
        name = f"dxop_test_{os.getpid()}_{next(_counter)}"
    admin = _admin_engine(postgres_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_template}"'))
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = create_engine_for(pg_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh, migrated SQLite database file for one test."""
    url = f"sqlite:///{tmp_path / 'diagnostic-operator.db'}"
    upgrade(url)
    return url


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = create_engine_for(sqlite_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database URL: the test runs once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = create_engine_for(db_url)
    try:
        yield engine
    finally:
        engine.dispose()
