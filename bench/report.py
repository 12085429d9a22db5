"""`python -m bench report`: the periodic review over 1,000,000 generated batch records, SQLite and PostgreSQL.

What is measured: ``--batches`` decided batches spread evenly over ``--years`` years and
round-robin over ``--products`` products (default one: every batch is the reviewed
product's, the worst case), six numeric release results each, ~2 % viability OOS with
their categories, the vector copy number drifting in the last six months; bulk-loaded
with ``executemany`` (SQLite) or ``COPY`` (PostgreSQL). Then:

* the review of the last six-month period of the first product, exactly as the reporting
  worker makes it (:func:`engine.services.periodic_review.generate_report`): counts, rates
  and capability aggregated in SQL, each attribute's control-chart series of the period
  and its baseline (``--baseline`` six-month periods, default 3) read as columns, the
  dataset SHA-256 and CSV annex streamed, HTML, PDF and JSON rendered and stored; run in a
  child process so that its peak RSS is its own (``getrusage`` in that process), with
  the time of its phases; ``--tracemalloc`` adds a second, traced run (slower) for the
  peak of Python allocations;
* the portfolio aggregation: counts per product, period and outcome over every batch of
  the table in one ``GROUP BY`` (what a review of every product starts from);
* the calibration of the default thresholds (``--section calibration`` runs only this, in
  seconds): on a simulated stable CAR-T product (:mod:`engine.domain.signal_calibration`,
  ``--reviews`` fixed-seed reviews) the share of reviews that open a CAPA by chance
  (``false_alarm_rate``, with its Clopper–Pearson 95 % interval), and on the same product
  with a shift the share of reviews that flag the shifted attribute (``detection_rates``,
  ``detection_rate`` the lowest of them).

The last line printed is one JSON object with the figures; ``seconds`` and ``peak_rss_mb`` are the
review's wall time and the report process's peak RSS (the larger over the backends run): with the
defaults, one product with 200,000 batches in its four periods (issue 10: ≤ 10 s, ≤ 500 MB).

The PostgreSQL run uses the database named by ``OOSPATH_TEST_DATABASE_URL`` when set, as the other
PostgreSQL benches do (else ``--pg-url``, default :data:`DEFAULT_PG_URL`, created when missing), its public
schema dropped and created afresh as the test suite does; skipped with a note when the server is not reachable.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import multiprocessing
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.domain import catalogue as cat
from engine.domain.signal_calibration import CALIBRATION_SEED, calibrate
from engine.domain.trends import Period, Thresholds, clopper_pearson
from engine.services import catalog, periodic_review, review_data
from engine.services.identity import SYSTEM, Actor
from engine.settings import Settings
from engine.store.models import BatchRow
from oospath.review_demo import seed_products

PRODUCT = cat.CART19_AUTH
PERIOD = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ATTRIBUTES = [  # (attribute, unit, mean, sd, decimals)
    (cat.VIABILITY, cat.PERCENT, 90.5, 2.6, 1),
    (cat.CAR_T_DOSE, cat.DOSE_UNIT, 2.6, 0.5, 2),
    (cat.TRANSDUCTION_EFFICIENCY, cat.PERCENT, 32.0, 4.5, 1),
    (cat.VECTOR_COPY_NUMBER, cat.VCN_UNIT, 2.2, 0.3, 2),
    (cat.IFN_GAMMA_RELEASE, cat.PG_PER_ML, 1850.0, 320.0, 0),
    (cat.ENDOTOXIN, cat.EU_PER_ML, 0.4, 0.12, 2),
]
CHUNK = 50_000
#: The PostgreSQL run's database when ``OOSPATH_TEST_DATABASE_URL`` is not set.
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/oospath_bench"
ACTOR = Actor("bench", frozenset({"qa"}))


def chunks(total: int, years: int, seed: int) -> Iterator[dict[str, Any]]:
    """The batches in chunks of numpy columns: decision times evenly spread, results, OOS flags."""
    rng = np.random.default_rng(seed)
    start = PERIOD.end.replace(year=PERIOD.end.year - years)
    span = (PERIOD.end - start).total_seconds()
    drift_start = (PERIOD.start - start).total_seconds()
    for first in range(0, total, CHUNK):
        n = min(CHUNK, total - first)
        index = np.arange(first, first + n)
        seconds = np.floor((index + rng.uniform(0.05, 0.95, n)) * span / total)
        values = {a: np.round(rng.normal(mean, sd, n), d) for a, _, mean, sd, d in ATTRIBUTES}
        drift = np.clip((seconds - drift_start) / (span - drift_start), 0, 1) * 1.1
        values[cat.VECTOR_COPY_NUMBER] = np.round(np.maximum(values[cat.VECTOR_COPY_NUMBER] + drift, 0.5), 2)
        values[cat.ENDOTOXIN] = np.round(np.abs(values[cat.ENDOTOXIN]), 2)
        oos = rng.random(n) < 0.02
        values[cat.VIABILITY] = np.where(oos, np.round(rng.uniform(72.0, 79.4, n), 1),
                                         np.clip(values[cat.VIABILITY], 80.0, 99.0))
        administered = rng.random(n) < 0.7
        yield {"index": index, "seconds": seconds, "start": start, "values": values, "oos": oos,
               "administered": administered}


def outcome(chunk: dict[str, Any], i: int) -> str:
    if not chunk["oos"][i]:
        return "released"
    return "oos_administered" if chunk["administered"][i] else "oos_not_administered"


def batch_id(index: int) -> str:
    return f"BENCH-{index:07d}"


def product_of(index: int, products: int) -> str:
    """Round-robin over the products; the first is the demo CART19-AUTH, the others copies of it."""
    number = index % products
    return PRODUCT if number == 0 else f"BENCH-P{number:03d}"


def add_products(app: Oospath, products: int) -> None:
    """Products 2..N: copies of CART19-AUTH with its specification versions."""
    with app.uow() as uow:
        for number in range(1, products):
            code = f"BENCH-P{number:03d}"
            catalog.add_product(uow.session, app.clock, dataclasses.replace(cat.product(PRODUCT), code=code), ACTOR)
            uow.session.flush()
            for spec in cat.specifications_for(PRODUCT):
                catalog.add_specification(uow.session, app.clock, dataclasses.replace(spec, product_code=code),
                                          SYSTEM)  # seed data, approved at once (OOS-24)
        uow.commit()


def _sqlite_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(app: Oospath, total: int, years: int, seed: int, products: int) -> None:
    """executemany through the DB-API connection, one transaction per chunk."""
    raw = app.db.raw_connection()
    try:
        cursor = raw.cursor()
        for chunk in chunks(total, years, seed):
            rows, results, categories = [], [], []
            for i, index in enumerate(chunk["index"]):
                decided = _sqlite_time(chunk["start"] + timedelta(seconds=float(chunk["seconds"][i])))
                status = outcome(chunk, i)
                ident = batch_id(int(index))
                rows.append((ident, product_of(int(index), products), decided, 0, cat.HELIX, "bench", "DE",
                             periodic_review_status(status), decided, status))
                results += [(ident, a, float(chunk["values"][a][i]), unit, decided) for a, unit, *_ in ATTRIBUTES]
                if chunk["oos"][i]:
                    categories.append((ident, "below lower limit", cat.VIABILITY, "major"))
            cursor.executemany("INSERT INTO batches (batch_id, product_code, manufactured_at, imported, manufacturer, "
                               "treating_site, treating_country, status, decided_at, outcome) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            cursor.executemany("INSERT INTO test_results (batch_id, attribute, value, unit, reported_at) "
                               "VALUES (?, ?, ?, ?, ?)", results)
            cursor.executemany("INSERT INTO oos_categories (batch_id, type, attribute, severity) "
                               "VALUES (?, ?, ?, ?)", categories)
            raw.commit()
    finally:
        raw.close()


def periodic_review_status(status: str) -> str:
    return {"released": "certified", "oos_administered": "oos_supplied", "oos_not_administered": "oos_not_supplied"}[
        status]


def load_postgresql(app: Oospath, total: int, years: int, seed: int, products: int) -> None:
    """COPY FROM STDIN (text format), one transaction per chunk; then VACUUM ANALYZE, the state autovacuum keeps
    a table of past batches in (the first read of freshly copied rows also writes their hint bits back)."""
    raw = app.db.raw_connection()
    try:
        cursor = raw.cursor()
        for chunk in chunks(total, years, seed):
            batches, results, categories = io.StringIO(), io.StringIO(), io.StringIO()
            for i, index in enumerate(chunk["index"]):
                decided = (chunk["start"] + timedelta(seconds=float(chunk["seconds"][i]))).isoformat()
                status = outcome(chunk, i)
                ident = batch_id(int(index))
                batches.write(f"{ident}\t{product_of(int(index), products)}\t{decided}\tf\t{cat.HELIX}\tbench\tDE\t"
                              f"{periodic_review_status(status)}\t{decided}\t{status}\n")
                for a, unit, *_ in ATTRIBUTES:
                    results.write(f"{ident}\t{a}\t{float(chunk['values'][a][i])!r}\t{unit}\t{decided}\n")
                if chunk["oos"][i]:
                    categories.write(f"{ident}\tbelow lower limit\t{cat.VIABILITY}\tmajor\n")
            for table, columns, buffer in (
                    ("batches", "batch_id, product_code, manufactured_at, imported, manufacturer, treating_site, "
                                "treating_country, status, decided_at, outcome", batches),
                    ("test_results", "batch_id, attribute, value, unit, reported_at", results),
                    ("oos_categories", "batch_id, type, attribute, severity", categories)):
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
            raw.commit()
    finally:
        raw.close()
    with app.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def fresh_postgresql(url: str) -> str | None:
    """Empty the bench database's public schema (the database created first when missing); None (with the
    reason printed) when the server is not reachable."""
    target = make_url(url)
    if target.database in (None, "", "postgres"):
        raise SystemExit(f"refusing to use database '{target.database}' for the benchmark: name one of its own")
    empty = ("DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public")
    try:
        _execute(target, *empty)
    except OperationalError:  # no such database yet (the default one, the first time), or no server
        try:
            _execute(target.set(database="postgres"), f'CREATE DATABASE "{target.database}"')
            _execute(target, *empty)
        except OperationalError as exc:
            print(f"PostgreSQL at {target.render_as_string(hide_password=True)} not reachable "
                  f"({type(exc).__name__}); skipped")
            return None
    return url


def _execute(url: URL, *statements: str) -> None:
    """The statements on the database of ``url``, each committed at once."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def _report_child(url: str, directory: str, baseline: int, traced: bool, sender: Any) -> None:
    """One report, in a process of its own: its time, the time of its phases and (traced) its allocation peak."""
    app = bootstrap(Settings(var_dir=Path(directory), database_url=url), FrozenClock(NOW), migrate=False)
    assert app.settings.record_store is not None
    phases: dict[str, float] = {}

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - started
        return wrapper

    periodic_review.build_report = timed("counts in SQL, one pass (dataset hash, annex, chart series), analysis",
                                         periodic_review.build_report)
    periodic_review.render_files = timed("charts, HTML, PDF and JSON rendered and stored", periodic_review.render_files)
    if traced:
        tracemalloc.start()
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    started = time.perf_counter()
    with app.uow() as uow:
        row = periodic_review.generate_report(uow.session, NOW, app.settings.record_store, ACTOR, PRODUCT, PERIOD,
                                              periodic_review.ReviewSettings(baseline_periods=baseline))
        uow.commit()
        summary = {"rows": row.dataset_rows, "signals": row.signals_count, "label": row.period_label,
                   "sizes": {fmt: a["size"] for fmt, a in row.artifacts.items()}}
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if traced else None
    app.db.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary["rss_mb"] = usage.ru_maxrss / 1024  # peak resident set of this process, start-up included
    summary["cpu_seconds"] = usage.ru_utime + usage.ru_stime - cpu_before
    sender.send((elapsed, phases, peak, summary))


def report_in_child(url: str, directory: Path, baseline: int, traced: bool) -> tuple[Any, ...]:
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("spawn").Process(
        target=_report_child, args=(url, str(directory), baseline, traced, sender))
    child.start()
    while not receiver.poll(1.0):
        if not child.is_alive():  # failed before sending its figures: do not wait for them forever
            break
    result = receiver.recv() if receiver.poll() else None
    child.join()
    if child.exitcode or result is None:
        raise SystemExit(f"the report process failed with exit code {child.exitcode}")
    return result  # type: ignore[no-any-return]


def portfolio(app: Oospath) -> tuple[float, float, int, int]:
    """Counts per product, period and outcome over the whole table (one GROUP BY), then their rates and
    Clopper–Pearson intervals: (SQL seconds, rates seconds, products, batches)."""
    periods = periodic_review.review_periods(PERIOD, 19)
    started = time.perf_counter()
    with app.uow() as uow:
        tally = review_data.tally_by_product(uow.session, periods)
    grouped = time.perf_counter()
    counts = {product: review_data.counts_from_tally(product, periods, found, 0.95) for product, found in tally.items()}
    return grouped - started, time.perf_counter() - grouped, len(counts), sum(
        c.total for rows in counts.values() for c in rows)


def calibration(args: argparse.Namespace) -> dict[str, Any]:
    """False-alarm and detection rates of the default thresholds on simulated products (fixed seed)."""
    started = time.perf_counter()
    found = calibrate(Thresholds(), reviews=args.reviews, shifted_reviews=args.shifted_reviews,
                      seed=args.calibration_seed)
    elapsed = time.perf_counter() - started
    low, high = clopper_pearson(round(found.false_alarm_rate * found.reviews), found.reviews)
    print(f"calibration of the default thresholds: {found.reviews:,} reviews of a stable simulated CAR-T product, "
          f"{args.shifted_reviews} per shift, seed {args.calibration_seed}, {elapsed:.1f} s")
    print(f"  reviews opening a CAPA by chance: {100 * found.false_alarm_rate:.1f} % (95 % CI {100 * low:.1f}–"
          f"{100 * high:.1f} %); by signal: " + ", ".join(f"{kind} {100 * rate:.1f} %" for kind, rate in
                                                       found.false_alarms_by_signal.items()))
    print(f"  reviews with a repeat failure (recurring OOS, escalated by OOS-23, not a chance signal): "
          f"{100 * found.repeat_failure_rate:.1f} %")
    for name, rate in found.detection_rates.items():
        print(f"  shift flagged: {name}: {100 * rate:.1f} % of reviews")
    return {"false_alarm_rate": found.false_alarm_rate, "false_alarm_rate_ci95": [round(low, 4), round(high, 4)],
            "false_alarms_by_signal": found.false_alarms_by_signal, "repeat_failure_rate": found.repeat_failure_rate,
            "detection_rate": found.detection_rate, "detection_rates": found.detection_rates,
            "calibration_reviews": found.reviews, "calibration_seconds": round(elapsed, 2)}


def run(label: str, url: str, directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    app = bootstrap(Settings(var_dir=directory, database_url=url), FrozenClock(NOW))
    seed_products(app)
    add_products(app, args.products)
    started = time.perf_counter()
    (load_sqlite if url.startswith("sqlite") else load_postgresql)(app, args.batches, args.years, args.seed,
                                                                   args.products)
    loaded = time.perf_counter() - started
    with app.uow() as uow:
        count = uow.session.scalar(select(func.count()).select_from(BatchRow)) or 0
    print(f"{label}: {count:,} batch records ({count * len(ATTRIBUTES):,} results) loaded in {loaded:.1f} s")
    group_by, rates, products, grouped = portfolio(app)
    print(f"  portfolio counts by product, period and outcome: one GROUP BY over {grouped:,} batches of "
          f"{products} product(s) and 20 periods {group_by:.2f} s, then {products * 20 * 2:,} rates with "
          f"Clopper–Pearson intervals (scipy) {rates:.2f} s")
    app.db.dispose()
    elapsed, phases, _, summary = report_in_child(url, directory, args.baseline, traced=False)
    print(f"  report {summary['label']} of {PRODUCT}: {elapsed:.1f} s ({summary['cpu_seconds']:.1f} s of CPU), "
          f"peak RSS of the report process {summary['rss_mb']:.0f} MB")
    print(f"    {summary['rows']:,} batches in its periods (review + {args.baseline} baseline), "
          f"{summary['signals']} signals; " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
    print("    files: " + ", ".join(f"{fmt} {size / 1e6:.1f} MB" for fmt, size in summary["sizes"].items()))
    figures = {"batches": count, "load_seconds": round(loaded, 2), "report_seconds": round(elapsed, 2),
               "report_cpu_seconds": round(summary["cpu_seconds"], 2), "report_rss_mb": round(summary["rss_mb"]),
               "report_batches": summary["rows"], "signals": summary["signals"],
               "portfolio_group_by_seconds": round(group_by, 3)}
    if args.tracemalloc:
        _, _, peak, _ = report_in_child(url, directory, args.baseline, traced=True)
        print(f"    peak traced Python memory (tracemalloc, a second run): {peak / 1e6:.0f} MB")
        figures["report_traced_peak_mb"] = round(peak / 1e6)
    return figures


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench report")
    parser.add_argument("--batches", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=10, help="history the batches are spread over")
    parser.add_argument("--products", type=int, default=1, help="products the batches are spread over")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations (slow)")
    parser.add_argument("--baseline", type=int, default=periodic_review.DEFAULT_BASELINE_PERIODS)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get("OOSPATH_TEST_DATABASE_URL") or DEFAULT_PG_URL,
                        help=f"the PostgreSQL database (default: OOSPATH_TEST_DATABASE_URL, else {DEFAULT_PG_URL})")
    parser.add_argument("--section", choices=["all", "calibration", "database"], default="all")
    parser.add_argument("--reviews", type=int, default=600, help="stable reviews simulated for the calibration")
    parser.add_argument("--shifted-reviews", type=int, default=80, help="reviews simulated per shift")
    parser.add_argument("--calibration-seed", type=int, default=CALIBRATION_SEED)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"bench": "report"}
    if args.section in ("all", "calibration"):
        result.update(calibration(args))
    if args.section in ("all", "database"):
        result.update(database(args))
        runs = [result[backend] for backend in ("sqlite", "postgresql") if backend in result]
        if runs:  # the issue's figures: the slowest and the largest of the backends' reviews
            result["seconds"] = max(run["report_seconds"] for run in runs)
            result["peak_rss_mb"] = max(run["report_rss_mb"] for run in runs)
    print(json.dumps(result, ensure_ascii=False))


def database(args: argparse.Namespace) -> dict[str, Any]:
    """The review and the portfolio aggregation over generated batch records, per backend."""
    figures: dict[str, Any] = {}
    per_period = args.batches / (2 * args.years * args.products)
    print(f"periodic review benchmark: {args.batches:,} batches of {args.products} product(s) over {args.years} "
          f"years (~{math.floor(per_period):,} per product and six-month period), review {PERIOD.label} of {PRODUCT}")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="oospath-bench-report-") as directory:
            figures["sqlite"] = run("SQLite", f"sqlite:///{Path(directory) / 'bench.db'}", Path(directory), args)
    if args.backend in ("postgresql", "both"):
        url = fresh_postgresql(args.pg_url)
        if url is not None:
            with tempfile.TemporaryDirectory(prefix="oospath-bench-report-") as directory:
                figures["postgresql"] = run("PostgreSQL", url, Path(directory), args)
    return figures
