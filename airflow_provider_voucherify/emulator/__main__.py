"""Command line: ``python -m airflow_provider_voucherify.emulator --port 8000 --db emulator.db``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_provider_voucherify.emulator._extras import EXTRA_MODULES, install_hint

try:
    import uvicorn

    from airflow_provider_voucherify.emulator.app import create_app
    from airflow_provider_voucherify.emulator.export_routes import download_app
except ModuleNotFoundError as exc:
    if (exc.name or "").partition(".")[0] not in EXTRA_MODULES:
        raise
    raise SystemExit(f"error: {install_hint(exc.name)}") from None

from airflow_provider_voucherify.emulator.config import (
    DEFAULT_APP_ID,
    DEFAULT_APP_TOKEN,
    MAX_BODY_BYTES,
    EmulatorConfig,
    Project,
    load_projects,
)
from airflow_provider_voucherify.emulator.faults import FaultConfig
from airflow_provider_voucherify.emulator.plans import DEFAULT_PLAN, PLANS
from airflow_provider_voucherify.emulator.schemas import load_schemas


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_voucherify.emulator",
        description="A local Voucherify API emulator (orders import and async actions).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--db", type=Path, default=Path("voucherify-emulator.db"), help="SQLite file")
    parser.add_argument("--app-id", help=f"project Application ID (default {DEFAULT_APP_ID})")
    parser.add_argument("--app-token", help="project Secret Key (default: the emulator's well-known token)")
    parser.add_argument("--projects-file", type=Path, help='JSON: [{"app_id": ..., "app_token": ...}, ...]')
    parser.add_argument(
        "--orders-per-second", type=float, default=2000.0, help="import speed (emulated time); 0 = unlimited"
    )
    parser.add_argument(
        "--plan",
        default=DEFAULT_PLAN,
        choices=tuple(PLANS),
        help="rate limits of a Voucherify plan (default: unlimited); the flags below override its numbers",
    )
    parser.add_argument("--rate-limit-per-minute", type=int, help="API calls per calendar minute; 0 = off")
    parser.add_argument("--rate-limit-per-hour", type=int, help="API calls per calendar hour; 0 = off")
    parser.add_argument("--bulk-calls-per-hour", type=int, help="bulk calls (imports) per hour; 0 = off")
    parser.add_argument("--calls-per-cycle", type=int, help="API calls per billing cycle (month); 0 = off")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="emulated seconds per real second (default 1)"
    )
    parser.add_argument(
        "--import-overhead",
        type=float,
        default=0.0,
        help="emulated seconds each async action takes before processing its first record",
    )
    parser.add_argument(
        "--max-body-bytes", type=int, default=MAX_BODY_BYTES, help="import body limit (413 above it)"
    )
    parser.add_argument(
        "--metadata-schemas", type=Path, help="JSON: metadata schemas by resource, enforced on import"
    )
    parser.add_argument(
        "--export-rows-per-second",
        type=float,
        help="export speed (emulated time; default: --orders-per-second); 0 = no wait",
    )
    parser.add_argument(
        "--export-overhead", type=float, default=0.0, help="emulated seconds an export stays SCHEDULED"
    )
    parser.add_argument(
        "--export-header",
        default="keys",
        choices=("keys", "labels"),
        help="header row of export files: keys (source_id) or labels (Source ID); undocumented for orders",
    )
    parser.add_argument(
        "--download-port", type=int, help="serve export downloads on this second port (the download cluster)"
    )
    parser.add_argument(
        "--download-host", default="localhost", help="host name the download URLs name (default localhost)"
    )
    parser.add_argument("--fault-error-rate", type=float, default=0.0)
    parser.add_argument("--fault-latency", type=float, default=0.0, help="seconds added to each answer")
    parser.add_argument("--fault-drop-rate", type=float, default=0.0)
    parser.add_argument("--fault-seed", type=int)
    parser.add_argument(
        "--fault-html-page",
        action="store_true",
        help="answer every API call 200 with an HTML page, as the dashboard or a captive proxy would",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    return parser.parse_args(argv)


def _limit(value: int | None) -> int | None:
    return None if value is None else max(0, value)


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    if args.time_scale <= 0:
        raise ValueError(f"--time-scale must be positive, got {args.time_scale}")
    projects: tuple[Project, ...] = ()
    if args.projects_file is not None:
        projects = load_projects(args.projects_file)
    if args.app_id or args.app_token or not projects:
        app_id = args.app_id or DEFAULT_APP_ID
        listed = {project.app_id: project for project in projects}.get(app_id)
        projects = (
            Project(
                app_id,
                args.app_token or DEFAULT_APP_TOKEN,
                listed.organization if listed else "",
                listed.plan if listed else None,
            ),
            *[project for project in projects if project.app_id != app_id],
        )
    faults = FaultConfig(
        error_rate=args.fault_error_rate,
        latency_seconds=args.fault_latency,
        drop_rate=args.fault_drop_rate,
        seed=args.fault_seed,
        html_page=args.fault_html_page,
    )
    return EmulatorConfig(
        db_path=args.db,
        projects=projects,
        host=args.host,
        port=args.port,
        orders_per_second=max(0.0, args.orders_per_second),
        plan=args.plan,
        rate_limit_per_minute=_limit(args.rate_limit_per_minute),
        rate_limit_per_hour=_limit(args.rate_limit_per_hour),
        bulk_calls_per_hour=_limit(args.bulk_calls_per_hour),
        calls_per_cycle=_limit(args.calls_per_cycle),
        time_scale=args.time_scale,
        import_overhead_seconds=max(0.0, args.import_overhead),
        max_body_bytes=max(1, args.max_body_bytes),
        export_rows_per_second=(
            None if args.export_rows_per_second is None else max(0.0, args.export_rows_per_second)
        ),
        export_overhead_seconds=max(0.0, args.export_overhead),
        export_header=args.export_header,
        download_port=args.download_port,
        download_host=args.download_host,
        faults=faults,
        metadata_schemas=load_schemas(args.metadata_schemas) if args.metadata_schemas else {},
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = build_config(args)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    app = create_app(config)
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        # Longer than httpx's 5 s pool expiry, so a client never reuses a connection we are closing.
        "timeout_keep_alive": 75,
        "timeout_graceful_shutdown": 5,
    }
    if config.download_port is None:
        uvicorn.run(app, host=config.host, port=config.port, **options)
        return 0
    tokens = {project.app_id: project.app_token for project in config.projects}
    downloads = download_app(app.state.emulator.exports, tokens)
    servers = [
        uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, **options)),
        uvicorn.Server(
            uvicorn.Config(downloads, host=config.host, port=config.download_port, lifespan="off", **options)
        ),
    ]
    asyncio.run(_serve_together(servers))
    return 0


async def _serve_together(servers: list[uvicorn.Server]) -> None:
    """Run both servers; when one stops (a signal reaches only the last one to install its
    handlers), stop the other too."""
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    sys.exit(main())
