"""On a rate-limited plan the progress lines tell the truth: ETA, batches left, the next window.

An emulator with the Sandbox plan (one bulk call an hour) or the legacy Startup plan (ten), its
clock scaled so that an emulated hour is a few real seconds; the client's ``max_rate_limit_wait``
is below a window, so every refusal reaches the send loop, which waits in the worker (a wait this
short never defers: ``MIN_DEFER_SECONDS``). Those waits are real: the progress lines measure the
window from the moments the refusals name, in real time. The first batch goes out just before the
end of an emulated hour, so the first wait is short and the test lasts about two windows.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_voucherify.emulator.testing import EmulatorServer
from airflow_provider_voucherify.hooks.voucherify import VoucherifyHook
from airflow_provider_voucherify.operators.import_orders import ImportOrdersOperator
from tests.airflow_helpers import LogLines
from tests.operators.conftest import order_dict, write_jsonl
from tests.operators.test_import_orders import FakeTI

# An emulated hour lasts 2 real seconds on Sandbox (one bulk call an hour), 6 on Startup: its ten
# calls must all fit in one window, or the window passes before the refusal the test counts on (at
# 2 s a window, the ten did not on a busy machine).
SCALE = {"sandbox": 1800, "startup": 600}
LEAD = 0.5  # real seconds between the first batch and the end of its window


@pytest.fixture(params=["sandbox", "startup"], scope="module")
def scaled(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EmulatorServer]:
    with EmulatorServer(
        tmp_path_factory.mktemp(request.param),
        plan=request.param,
        time_scale=SCALE[request.param],
        orders_per_second=0,
    ) as server:
        yield server


@pytest.fixture
def client_of(scaled: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    conn = json.loads(scaled.conn_json)
    conn["extra"] = {"max_retries": 0, "max_rate_limit_wait": 0.1, "timeout": 30}
    monkeypatch.setenv("AIRFLOW_CONN_VOUCHERIFY_DEFAULT", json.dumps(conn))
    return scaled


def _moment(text: str) -> float:
    return datetime.strptime(text, "%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp() % 86400


def test_progress_lines_follow_the_plan_under_a_time_scale(
    client_of: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = "sandbox" if "sandbox" in str(client_of.directory) else "startup"
    per_window = 1 if plan == "sandbox" else 10
    batches = 3 * per_window + 1  # refusals after windows 1, 2 and 3
    path = write_jsonl(tmp_path / "orders.jsonl", (order_dict(n) for n in range(batches)))
    operator = ImportOrdersOperator(
        task_id="import_orders", orders=[json.loads(line) for line in path.read_text().splitlines()],
        batch_size=1, preflight=False, deferrable=True,
    )  # fmt: skip
    log = LogLines()
    monkeypatch.setattr(ImportOrdersOperator, "log", property(lambda _: log.logger))
    # The first window ends LEAD seconds after the first batch goes out (the clock moved then, not
    # before execute(): a process's first execute() spends up to a second importing Airflow), so
    # its refusal comes at once instead of after whatever part of an hour was left. It takes that
    # batch at least, and the rest fit in three more windows.
    post = VoucherifyHook.import_serialized
    posted: list[bytes] = []

    def post_near_a_window_end(hook: VoucherifyHook, body: bytes, **kwargs: Any) -> str:
        if not posted:
            client_of.advance_clock_to_window_end(LEAD * SCALE[plan])
        posted.append(body)
        return post(hook, body, **kwargs)

    monkeypatch.setattr(VoucherifyHook, "import_serialized", post_near_a_window_end)
    ids = operator.execute({"ti": FakeTI()})  # type: ignore[arg-type]
    assert len(set(ids)) == batches
    lines = log.messages
    progress = [line for line in lines if line.startswith("batch ") and "orders sent" in line]
    assert len(progress) == batches
    refusals = [line for line in lines if "limit: batch" in line and "refused" in line]
    assert len(refusals) == 3, lines
    assert not any("deferring" in line for line in refusals), "a wait of a second happens in the worker"
    for line in refusals:
        number = int(re.search(r"batch (\d+) refused", line)[1])  # type: ignore[index]
        assert f"about {batches - number + 1} batches remain" in line, line
    for line in progress:
        number = int(re.search(r"^batch (\d+):", line)[1])  # type: ignore[index]
        if number < batches and "if the plan's bulk limit allows" not in line:
            assert "ETA 0m00s" not in line, line
    # Every "next window" shown is seconds away, not an hour.
    now = time.time() % 86400
    for moment in re.findall(r"next window (?:by )?(\d\d:\d\d:\d\dZ)", "\n".join(progress)):
        assert abs(_moment(moment) - now) < 120, (moment, progress)
    # From the second refusal on the window is measured, and the ETA says when the rest is sent.
    measured = [line for line in progress if re.search(r"next window \d", line)]
    assert measured, progress
