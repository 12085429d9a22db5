"""`oospath import batches` and `oospath report ...`: the periodic review from the command line (OOS-20 .. OOS-23)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

console = Console(width=None if sys.stdout.isatty() else 120)
CLI_ACTOR_USER = "cli"


def _actor(user: str, roles: str) -> Any:
    from engine.services.identity import Actor

    return Actor(user, frozenset(r.strip() for r in roles.split(",") if r.strip()))


def _day(_: click.Context, __: click.Parameter, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"'{value}' is not a date YYYY-MM-DD") from exc


def _fail(exc: Exception) -> None:
    from engine.services.batch_file import ImportRefused

    console.print(f"[red]{getattr(exc, 'detail', exc)}[/]")
    if isinstance(exc, ImportRefused):
        for error in exc.errors:
            console.print(f"  line {error.line}, field {error.field}: {error.message}")
    sys.exit(1)


# ---- oospath import batches ------------------------------------------------------------------------------------
@click.group("import")
def import_group() -> None:
    """Import data from other systems (LIMS exports)."""


@import_group.command("batches")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "jsonl"]), default=None,
              help="Default: from the file name (.json, .jsonl/.ndjson, otherwise csv).")
@click.option("--user", default=CLI_ACTOR_USER, show_default=True, help="Who imports (audit trail).")
def import_batches(file: Path, fmt: str | None, user: str) -> None:
    """Import decided batches (released or OOS, with results and OOS categories) for the periodic review.

    Every row is validated first; a bad row is reported by line and field and then nothing is imported.
    """
    from engine.bootstrap import bootstrap
    from engine.services import batch_import
    from engine.services.batch_file import detect_format
    from engine.services.errors import ServiceError

    app = bootstrap()
    fmt = fmt or detect_format(file)
    content = file.read_bytes()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bars: dict[str, Any] = {}

        def advance(phase: str, step: int, total: int) -> None:
            if phase not in bars:
                bars[phase] = progress.add_task(f"{phase} {file.name}", total=total)
            progress.update(bars[phase], advance=step, total=total)

        try:
            with app.uow() as uow:
                summary = batch_import.import_batches(uow.session, app.clock.now(), _actor(user, "qa"), content,
                                                      fmt, source=str(file), progress=advance)  # type: ignore[arg-type]
                uow.commit()
        except ServiceError as exc:
            progress.stop()
            _fail(exc)
    console.print(f"imported {summary.rows} batches of {', '.join(summary.products)} from {file} "
                  f"({', '.join(f'{k}: {v}' for k, v in summary.by_status.items())}); file SHA-256 {summary.sha256}")


# ---- oospath report ... ----------------------------------------------------------------------------------------
@click.group("report")
def report_group() -> None:
    """Periodic review reports (OOS-20): generate, list, start the review process."""


@report_group.command("periodic")
@click.option("--product", required=True, help="Product code, e.g. CART19-AUTH.")
@click.option("--from", "first", required=True, callback=_day, help="First day of the period, YYYY-MM-DD (UTC).")
@click.option("--to", "last", required=True, callback=_day, help="Last day of the period, inclusive, YYYY-MM-DD.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the files (default: $OOSPATH_VAR_DIR/reports).")
@click.option("--user", default=CLI_ACTOR_USER, show_default=True, help="Who generates it (audit trail).")
def periodic(product: str, first: date, last: date, out: Path | None, user: str) -> None:
    """Generate the periodic review of PRODUCT for the period; write HTML, PDF, JSON and CSV and print their paths."""
    from engine.bootstrap import bootstrap
    from engine.services import periodic_review
    from engine.services.errors import ServiceError

    app = bootstrap()
    assert app.settings.record_store is not None
    try:
        period = periodic_review.period_from_days(first, last)
        with app.uow() as uow:
            row = periodic_review.generate_report(uow.session, app.clock.now(), app.settings.record_store,
                                                  _actor(user, "qa"), product, period)
            uow.commit()
    except ServiceError as exc:
        _fail(exc)
    directory = out or app.settings.var_dir / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    console.print(f"report {row.id}: {row.product_code} {row.period_label}, {row.dataset_rows} batches, "
                  f"dataset SHA-256 {row.dataset_sha256}, {row.signals_count} signal(s)")
    for fmt in ("html", "pdf", "json", "csv"):
        with app.uow() as uow:
            content, _, name = periodic_review.report_file(uow.session, app.settings.record_store, row.id, fmt)
        path = (directory / name).resolve()
        path.write_bytes(content)
        click.echo(str(path))


@report_group.command("list")
@click.option("--product", default=None, help="Only this product's reports.")
def list_reports(product: str | None) -> None:
    """Generated periodic review reports, newest first."""
    from engine.bootstrap import bootstrap
    from engine.services import periodic_review

    app = bootstrap()
    table = Table("id", "product", "period", "batches", "signals", "dataset SHA-256", "generated")
    with app.uow() as uow:
        for row in periodic_review.list_reports(uow.session, product):
            table.add_row(row.id, row.product_code, row.period_label, str(row.dataset_rows), str(row.signals_count),
                          row.dataset_sha256[:16] + "…", row.generated_at.isoformat())
    console.print(table)


@report_group.command("start-review")
@click.option("--product", required=True, help="Product code, e.g. CART19-AUTH.")
@click.option("--from", "first", required=True, callback=_day, help="First day of the period, YYYY-MM-DD (UTC).")
@click.option("--to", "last", required=True, callback=_day, help="Last day of the period, inclusive, YYYY-MM-DD.")
@click.option("--user", default=CLI_ACTOR_USER, show_default=True, help="Who starts it (audit trail).")
def start_review(product: str, first: date, last: date, user: str) -> None:
    """Start the periodic_review process for a period by hand (the scheduler starts one every six months)."""
    from engine.bootstrap import bootstrap
    from engine.services import periodic_review
    from engine.services.errors import ServiceError

    app = bootstrap()
    try:
        with app.uow() as uow:
            row = periodic_review.start_review(uow.session, app.runtime, product,
                                               periodic_review.period_from_days(first, last), _actor(user, "mah_ra"))
            uow.commit()
    except ServiceError as exc:
        _fail(exc)
    console.print(f"periodic review {row.id} started: instance {row.instance_id} ({product}, "
                  f"{row.period_start.date()} to {row.period_end.date()} exclusive)")
