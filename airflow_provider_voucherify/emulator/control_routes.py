"""The emulator's test controls under ``/_emulator/``: health, faults, clock, stats, reset.

No auth, no limits, no faults, not counted (see docs/emulator.md).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_provider_voucherify.emulator.alterations import alter_stored_orders
from airflow_provider_voucherify.emulator.export_routes import describe_downloads
from airflow_provider_voucherify.emulator.faults import FaultConfig
from airflow_provider_voucherify.emulator.middleware import describe_counts
from airflow_provider_voucherify.emulator.schema_routes import JsonAnswer

if TYPE_CHECKING:
    from airflow_provider_voucherify.emulator.app import Emulator


class ClockMove(BaseModel):
    """What ``POST /_emulator/clock`` accepts: emulated seconds forward, then to the next window's top."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    advance: float = Field(0.0, ge=0.0)
    to_top_of: float | None = Field(None, gt=0.0)


def control_routes(app: FastAPI, emulator: Emulator, _json: JsonAnswer) -> None:
    """Test controls: no auth, no limits, no faults, not counted."""

    def faults_body() -> dict[str, Any]:
        return {**emulator.faults.describe(), "effective_rate_limits": emulator.limiter.describe()}

    @app.get("/_emulator/health")
    async def health() -> Response:
        return _json({"status": "ok", "projects": len(emulator.config.projects)})

    @app.get("/_emulator/faults")
    async def get_faults() -> Response:
        return _json(faults_body())

    @app.post("/_emulator/faults")
    async def set_faults(request: Request) -> Response:
        try:
            config = FaultConfig.model_validate_json(await request.body() or b"{}")
        except ValidationError as exc:
            return _json({"error": "invalid fault config", "details": json.loads(exc.json())}, 422)
        emulator.faults.configure(config)
        emulator.apply_limits()
        emulator.wake_workers()
        if config.alter_orders is not None:
            emulator.faults.altered_orders = alter_stored_orders(
                emulator.store, config.alter_orders, config.seed
            )
        return _json(faults_body())

    def clock_body() -> dict[str, Any]:
        clock = emulator.clock
        real_now = clock.real()
        return {
            "now": clock.emulated_at(real_now),
            "real_now": real_now,
            "time_scale": clock.scale,
            "skipped": clock.skipped,
        }

    @app.get("/_emulator/clock")
    async def clock() -> Response:
        """The emulated clock: ``now`` (emulated epoch seconds), ``real_now``, ``time_scale`` and
        ``skipped`` (the emulated seconds it was moved forward by)."""
        return _json(clock_body())

    @app.post("/_emulator/clock")
    async def advance_clock(request: Request) -> Response:
        """Move the emulated clock forward: ``{"advance": seconds, "to_top_of": 3600}`` (either or
        both; emulated seconds). The rate-limit windows move with it; imports and exports keep their
        real pace (their speed is scaled, their progress measured in real time). Answers as ``GET``;
        ``422`` for a negative or malformed move."""
        try:
            move = ClockMove.model_validate_json(await request.body() or b"{}")
        except ValidationError as exc:
            return _json({"error": "invalid clock move", "details": json.loads(exc.json())}, 422)
        emulator.clock.advance(move.advance, move.to_top_of)
        return _json(clock_body())

    @app.get("/_emulator/stats")
    async def stats() -> Response:
        counts = describe_counts(
            emulator.counter, emulator.store.counts(), emulator.store.processing_cpu_seconds
        )
        return _json({**counts, "downloads": describe_downloads(emulator.exports)})

    @app.post("/_emulator/reset")
    async def reset() -> Response:
        emulator.reset()
        return Response(status_code=204)
