"""The distributed test's components, each started here and stopped afterwards, and its table.

PostgreSQL (metadata database and warehouse), Redis (Celery broker), moto (S3 staging), the
Voucherify emulator with a rate-limit plan, and the Airflow cluster (created, not started: the
test starts it once the emulator is set up).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from scripts.demo import POOL, airflow_env
from scripts.sample_warehouse import Warehouse, generate, load
from tests.distributed.celery_cluster import CeleryAirflowCluster
from tests.distributed.s3_server import S3Server
from tests.faults.matrix import text_table
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer

# Each server starts while Airflow's migrations run beside it: on a busy machine, slowly.
STARTUP_TIMEOUT = 180
DATABASE = "distributed_airflow"  # Airflow's metadata database
BUCKET = "voucherify-staging"
# The conn id in the URL travels with every path derived from it (XCom holds such paths).
STAGING_BASE = f"s3://aws_default@{BUCKET}/backfill"
FIRST_MONTH = date(2024, 1, 1)
MONTHS = 6
ORDERS_PER_MONTH = 100  # one of them bad on purpose: rejected, listed in rejects.jsonl
# The plan: an API-call budget per minute and a bulk (import) budget per hour.
RATE_LIMIT_PER_MINUTE = 600
BULK_CALLS_PER_HOUR = 100
ORDERS_PER_SECOND = 8  # the emulator's import speed: each month's import stays in progress ~12 s,
# long enough to see every sensor deferred in the triggerer


@pytest.fixture
def airflow_database(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[Callable[[], None]]:
    """Migrates Airflow's metadata database and creates the pool in the background, while the
    other components start (a minute or two on a busy machine); ``wait()`` for it to be done."""
    postgres_server.create_database(DATABASE)
    cluster = CeleryAirflowCluster(
        tmp_path / "airflow", {}, postgres=postgres_server, database=DATABASE, broker_url="redis://unused"
    )

    def prepare() -> None:
        cluster.cli("db", "migrate")
        cluster.cli("pools", "set", POOL, "1", "Voucherify order imports: one at a time per project")

    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(prepare)
        yield lambda: done.result(timeout=600)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start(timeout=STARTUP_TIMEOUT)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[S3Server]:
    server = S3Server(tmp_path / "s3").start(timeout=STARTUP_TIMEOUT)
    try:
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture
def limited_emulator(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(
        tmp_path / "emulator",
        startup_timeout=STARTUP_TIMEOUT,
        orders_per_second=ORDERS_PER_SECOND,
        rate_limit_per_minute=RATE_LIMIT_PER_MINUTE,
        bulk_calls_per_hour=BULK_CALLS_PER_HOUR,
    ) as server:
        yield server


@pytest.fixture
def warehouse(postgres_server: PostgresServer) -> tuple[str, Warehouse]:
    """The sample warehouse in its own PostgreSQL database: every worker reaches it over TCP."""
    postgres_server.create_database("distributed_warehouse")
    summary, rows = generate(months=MONTHS, orders_per_month=ORDERS_PER_MONTH, seed=17, start=FIRST_MONTH)
    load(lambda: postgres_server.connect("distributed_warehouse"), "%s", rows)
    return postgres_server.conn_uri("distributed_warehouse"), summary


@pytest.fixture
def celery_cluster(
    tmp_path: Path,
    postgres_server: PostgresServer,
    airflow_database: Callable[[], None],
    redis_server: RedisServer,
    s3_server: S3Server,
    limited_emulator: EmulatorServer,
    warehouse: tuple[str, Warehouse],
) -> Iterator[CeleryAirflowCluster]:
    """Migrated, with the import pool; the test calls ``start()``. Stopped afterwards."""
    home = tmp_path / "airflow"
    env = airflow_env(
        home,
        warehouse_conn=warehouse[0],
        voucherify_conn=limited_emulator.conn_json,
        staging=tmp_path / "unused",  # replaced by the bucket below
        start=FIRST_MONTH,
        end=date(2024, 6, 30),  # catchup makes exactly six monthly runs, January to June
        poll_interval=1.0,
        sample_size=10,
    )
    env["VOUCHERIFY_STAGING_BASE"] = STAGING_BASE
    env["AIRFLOW_CONN_AWS_DEFAULT"] = s3_server.conn_json
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
    cluster = CeleryAirflowCluster(
        home, env, postgres=postgres_server, database=DATABASE, broker_url=redis_server.url
    )
    airflow_database()
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass
class Row:
    """One line of the table printed at the end of the run, in the fault matrix's style."""

    scenario: str
    months: int
    expected: int
    stored: int
    kills: int
    lost: int
    duplicated: int
    imports: str
    tasks: str
    deferred: str
    seconds: float


COLUMNS = (
    ("scenario", "scenario"),
    ("months", "months"),
    ("expected", "orders to store"),
    ("stored", "stored"),
    ("kills", "worker kills"),
    ("lost", "lost"),
    ("duplicated", "duplicated"),
    ("imports", "imports accepted"),
    ("tasks", "tasks per worker"),
    ("deferred", "sensors seen deferred"),
    ("seconds", "wall s"),
)
ROWS: list[Row] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    terminalreporter.section("distributed backfill: CeleryExecutor, two workers, S3 staging")
    for line in text_table(COLUMNS, ROWS):
        terminalreporter.write_line(line)


def pretty(value: object) -> str:
    return json.dumps(value, default=str)[:2000]
