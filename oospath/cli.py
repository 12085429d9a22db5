"""The `oospath` command: demo, validate, deploy, serve, scheduler, db upgrade."""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from engine.settings import Settings

console = Console(width=None if sys.stdout.isatty() else 120)


@click.group()
def main() -> None:
    """oospath: the EU exceptional-use pathway for OOS batches of cell/tissue-based ATMPs."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Run deploy's checks on BPMN/DMN files (and form schemas), writing nothing.

    Prints file, line, element and reason of each problem (deploy would refuse the bundle)
    and of each warning (deploy accepts it, e.g. a data store that is kept but not executed).
    """
    from engine.bpmn.loader import validate_bundle

    validation = validate_bundle(paths)
    problems = validation.problems
    for warning in validation.warnings:
        click.echo(str(warning), err=True)
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len(paths)} file(s)", err=True)
        sys.exit(1)
    click.echo(f"ok: {len(paths)} file(s) valid")


@main.command()
@click.option("--scenario", type=click.Choice(["authorised", "clinical-trial", "declined", "periodic-review"]),
              default="authorised", show_default=True)
@click.option("--var-dir", type=click.Path(path_type=Path), default=None,
              help="Where the SQLite database, records and mail go (default: a fresh temporary directory).")
@click.option("--broker", type=click.Choice(["embedded", "amqp"]), default="embedded", show_default=True,
              help="amqp: through RabbitMQ (OOSPATH_AMQP_URL) with the relay and each worker as a process, "
                   "in the namespace OOSPATH_AMQP_NAMESPACE (default here: oospath-demo), whose queues it purges.")
@click.option("--serve", is_flag=True, help="Then serve the browser pages over the demo's data and print the case "
                                            "page's URL (stop with Ctrl-C).")
@click.option("--port", default=8000, show_default=True, help="Port of --serve (on 127.0.0.1).")
def demo(scenario: str, var_dir: Path | None, broker: str, serve: bool, port: int) -> None:
    """Run one complete OOS case and print its timeline (embedded defaults unless --broker amqp).

    periodic-review: two years of one product imported, the six-monthly review run to its end (embedded only).
    """
    if scenario == "periodic-review":
        from oospath.review_demo import run_demo

        sys.exit(run_demo(console, var_dir))
    from engine.bootstrap import bootstrap
    from engine.clock import FileClock
    from oospath.demo import (
        deploy_processes,
        put_agreement_in_force,
        run_scenario,
        seed_catalogue,
    )
    from oospath.timeline import print_timeline
    from workers.embedded import EmbeddedMessaging

    started = time.perf_counter()
    var_dir = (var_dir or Path(tempfile.mkdtemp(prefix="oospath-demo-"))).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    clock = FileClock(var_dir / "clock")
    clock.set(datetime.now(UTC).replace(microsecond=0))
    settings = Settings(var_dir=var_dir, database_url=f"sqlite:///{var_dir / 'oospath.db'}")
    app = bootstrap(settings, clock)
    deploy_processes(app)
    seed_catalogue(app)
    if broker == "embedded":
        messaging = EmbeddedMessaging(app)
        put_agreement_in_force(app, messaging.pump)
        result = run_scenario(app, messaging.pump, scenario, clock.advance)
    else:
        result = _run_over_rabbitmq(app, settings, clock, var_dir, scenario)
    print_timeline(console, app, result.case.id)
    case = result.case
    console.print(
        f"\nCase [bold]{case.reference}[/] (batch {case.batch_id}) is [bold]{case.status}[/], "
        f"outcome [bold]{case.outcome}[/]; {result.audit_rows} audit-trail rows; "
        f"{result.steps} user tasks; data in {var_dir}; took {time.perf_counter() - started:.2f} s"
    )
    if case.status != "closed":
        sys.exit(1)
    if serve:
        from oospath.demo_server import serve_demo

        serve_demo(console, app, case.id, scenario, "127.0.0.1", port)


def _run_over_rabbitmq(app: Any, settings: Settings, clock: Any, var_dir: Path, scenario: str) -> Any:
    """The demo with the relay and each worker kind as a process, over RabbitMQ (``--broker amqp``)."""
    from oospath.demo import put_agreement_in_force, run_scenario, wait_until_settled
    from oospath.supervisor import CONSUMER_KINDS, Supervisor
    from workers.transport.rabbitmq import RabbitMqTransport
    from workers.transport.topology import Topology

    namespace = settings.amqp_namespace or "oospath-demo"
    transport = RabbitMqTransport(topology=Topology(namespace), settings=settings)
    transport.declare()
    transport.purge()
    transport.close()
    supervisor = Supervisor({"OOSPATH_DATABASE_URL": settings.database_url, "OOSPATH_VAR_DIR": str(var_dir),
                             "OOSPATH_CLOCK_FILE": str(clock.path), "OOSPATH_AMQP_NAMESPACE": namespace},
                            var_dir / "logs")
    supervisor.start(["relay", *CONSUMER_KINDS])
    try:
        put_agreement_in_force(app, lambda: wait_until_settled(app))
        result = run_scenario(app, lambda: wait_until_settled(app), scenario, clock.advance)
    finally:
        supervisor.stop()
    return result


@main.command()
@click.argument("kind", type=click.Choice(["notifications", "records", "reporting", "results", "inbound"]))
def worker(kind: str) -> None:
    """Consume one queue from RabbitMQ (OOSPATH_AMQP_URL) until stopped; several may run per kind."""
    from engine.bootstrap import bootstrap
    from engine.logging_setup import configure_logging
    from workers.dead_letters import incident_recorder, retry_counter
    from workers.embedded import consumers
    from workers.transport.rabbitmq import RabbitMqTransport

    app = bootstrap(migrate=False)
    configure_logging(app.settings)
    transport = RabbitMqTransport(on_dead_letter=incident_recorder(app), on_retry=retry_counter(app),
                                  settings=app.settings)
    transport.consume(kind, consumers(app, transport)[kind])


@main.command()
@click.option("--interval", default=0.1, show_default=True, help="Seconds to wait when the outbox is empty.")
def relay(interval: float) -> None:
    """Publish committed outbox messages to RabbitMQ with batched publisher confirms, forever."""
    from engine.bootstrap import bootstrap
    from engine.logging_setup import configure_logging
    from workers.relay import run_relay
    from workers.transport.rabbitmq import RabbitMqTransport

    app = bootstrap(migrate=False)
    configure_logging(app.settings)
    run_relay(app, RabbitMqTransport(settings=app.settings), interval)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="API processes (gunicorn sync workers); several may also run on several hosts over one "
                   "PostgreSQL database.")
@click.option("--timeout", default=120, show_default=True, type=click.IntRange(10, 3600),
              help="Seconds a request may run before its worker process is restarted.")
def serve(host: str, port: int, workers: int, timeout: int) -> None:
    """Serve the HTTP API with gunicorn, the production server (README, "Production server")."""
    from api import create_app
    from api.app import UnsafeConfiguration
    from engine.logging_setup import configure_logging
    from oospath.production_server import run

    try:
        settings = Settings()
    except ValueError as refused:  # a setting out of its range, named by the message
        raise click.ClickException(str(refused)) from refused
    if workers > 1 and not settings.database_url.startswith("postgresql"):
        raise click.ClickException("--workers > 1 needs PostgreSQL (OOSPATH_DATABASE_URL): SQLite has one writer, "
                                   "so run one API process over it")
    configure_logging(settings)
    try:
        app = create_app({"SETTINGS": settings})
    except UnsafeConfiguration as refused:
        raise click.ClickException(str(refused)) from refused
    run(app, app.extensions["oospath"], host, port, workers, timeout)


@main.command()
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
@click.option("--once", is_flag=True, help="Fire what is due now and exit.")
def scheduler(interval: float, once: bool) -> None:
    """Fire due BPMN timers (deadline escalations, overdue marking); several may run over one PostgreSQL."""
    from engine.bootstrap import bootstrap
    from engine.logging_setup import configure_logging
    from engine.services.audit_anchors import anchor_pass
    from engine.services.periodic_review import start_due
    from engine.services.scheduling import once_per_pass_duties, scheduler_pass

    app = bootstrap()
    configure_logging(app.settings)
    deliver = None
    if app.settings.embedded_messaging:  # the alerts a timer raises leave with this pass, not at the API's next write
        from workers.embedded import EmbeddedMessaging

        deliver = EmbeddedMessaging(app).pump
    while True:
        fired = scheduler_pass(app, deliver)
        if fired:
            console.print(f"fired {fired} timer(s)")
        with once_per_pass_duties(app) as sole:  # of several schedulers, one does these at a time
            if sole and (reviews := start_due(app)):  # the six-monthly periodic review (OOS-20)
                console.print(f"started {reviews} periodic review(s)")
                if deliver is not None:
                    deliver()
            if sole:
                anchor_pass(app)  # the audit chains' heads, outside the database (OOS-24)
        if once:
            return
        time.sleep(interval)


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path), required=False)
def deploy(directory: Path | None) -> None:
    """Deploy the BPMN/DMN/forms of DIRECTORY (default: processes/)."""
    from engine.bootstrap import bootstrap
    from engine.services import definitions
    from oospath.demo import ADMIN

    app = bootstrap()
    with app.uow() as uow:
        outcomes = definitions.deploy(uow.session, app.runtime,
                                      definitions.bundle_from_directory(directory or app.settings.processes_dir),
                                      ADMIN)
        uow.commit()
    table = Table("key", "version", "new")
    for outcome in outcomes:
        table.add_row(outcome.definition.key, str(outcome.definition.version), "yes" if outcome.created else "no")
    console.print(table)


@main.command()
@click.option("--repo", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Repository to trace (default: this checkout).")
@click.option("--sections", default="ABCDE", show_default=True, help="Requirement sections that must be covered.")
def trace(repo: Path | None, sections: str) -> None:
    """For every OOS-xx: the BPMN/DMN elements and the tests citing it; non-zero when one lacks either."""
    from oospath.trace import main as trace_main

    sys.exit(trace_main(repo, sections=sections))


@main.command("db-upgrade")
def db_upgrade() -> None:
    """Apply database migrations (Alembic) to OOSPATH_DATABASE_URL."""
    from engine.bootstrap import bootstrap

    bootstrap()
    console.print("database is at the latest migration")


from oospath.cli_reports import import_group, report_group  # noqa: E402 (commands of oospath/cli_reports.py)

main.add_command(import_group)
main.add_command(report_group)

from oospath.cli_audit import audit_group, db_grant_app_role  # noqa: E402 (commands of oospath/cli_audit.py)

main.add_command(audit_group)
main.add_command(db_grant_app_role)

from oospath.cli_accounts import orgs_group, users_group  # noqa: E402 (commands of oospath/cli_accounts.py)

main.add_command(orgs_group)
main.add_command(users_group)

from oospath.cli_catalog import catalog_group  # noqa: E402 (commands of oospath/cli_catalog.py)

main.add_command(catalog_group)

if __name__ == "__main__":
    main()
