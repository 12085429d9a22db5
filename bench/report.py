"""`python -m bench report`: the periodic review over 1,000,000 generated batch records, SQLite and PostgreSQL.

What is measured: one product with ``--batches`` decided batches spread evenly over
``--years`` years (six numeric release results each, ~2 % viability OOS with their
categories, the vector copy number drifting in the last six months), bulk-loaded with
``executemany`` (SQLite) or ``COPY`` (PostgreSQL). Then the review of the last
six-month period, exactly as the reporting worker makes it
(:func:`engine.services.periodic_review.generate_report`): counts, rates and
capability aggregated in SQL, the control-chart series of the period and its
baseline (``--baseline`` six-month periods, default 3) read per attribute, the
dataset SHA-256 and CSV annex streamed, HTML, PDF and JSON rendered and stored.

Printed per database: load time, report time (without tracing), peak traced Python
memory of the report (tracemalloc, a second run) and the process's peak RSS. The
PostgreSQL run uses its own database (``--pg-url``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/oospath_bench``), dropped and created
afresh; it is skipped with a note when the server is not reachable.
"""

from __future__ import annotations

import argparse
import io
import math
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from engine.bootstrap import Oospath, bootstrap
from engine.clock import FrozenClock
from engine.domain import catalogue as cat
from engine.domain.trends import Period
from engine.services import periodic_review
from engine.services.identity import Actor
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


def _sqlite_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def load_sqlite(app: Oospath, total: int, years: int, seed: int) -> None:
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
                rows.append((ident, PRODUCT, decided, 0, cat.HELIX, "bench", "DE",
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


def load_postgresql(app: Oospath, total: int, years: int, seed: int) -> None:
    """COPY FROM STDIN (text format), one transaction per chunk."""
    raw = app.db.raw_connection()
    try:
        cursor = raw.cursor()
        for chunk in chunks(total, years, seed):
            batches, results, categories = io.StringIO(), io.StringIO(), io.StringIO()
            for i, index in enumerate(chunk["index"]):
                decided = (chunk["start"] + timedelta(seconds=float(chunk["seconds"][i]))).isoformat()
                status = outcome(chunk, i)
                ident = batch_id(int(index))
                batches.write(f"{ident}\t{PRODUCT}\t{decided}\tf\t{cat.HELIX}\tbench\tDE\t"
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
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def fresh_postgresql(url: str) -> str | None:
    """Drop and create the bench database; None (with the reason printed) when the server is not reachable."""
    from sqlalchemy import create_engine

    target = make_url(url)
    if target.database in (None, "", "test", "postgres"):
        raise SystemExit(f"refusing to use database '{target.database}' for the benchmark: name one of its own")
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}"'))
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    except Exception as exc:
        print(f"PostgreSQL at {target.render_as_string(hide_password=True)} not reachable "
              f"({type(exc).__name__}); skipped")
        return None
    finally:
        admin.dispose()
    return url


def measure(app: Oospath, baseline: int) -> tuple[float, int, Any]:
    """Report time (untraced), then the peak traced memory of a second, traced run."""
    assert app.settings.record_store is not None
    settings = periodic_review.ReviewSettings(baseline_periods=baseline)
    started = time.perf_counter()
    with app.uow() as uow:
        row = periodic_review.generate_report(uow.session, NOW, app.settings.record_store, ACTOR, PRODUCT, PERIOD,
                                              settings)
        uow.commit()
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    with app.uow() as uow:
        periodic_review.generate_report(uow.session, NOW, app.settings.record_store, ACTOR, PRODUCT, PERIOD,
                                        settings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak, row


def run(label: str, url: str, directory: Path, args: argparse.Namespace) -> None:
    app = bootstrap(Settings(var_dir=directory, database_url=url), FrozenClock(NOW))
    seed_products(app)
    started = time.perf_counter()
    (load_sqlite if url.startswith("sqlite") else load_postgresql)(app, args.batches, args.years, args.seed)
    loaded = time.perf_counter() - started
    with app.uow() as uow:
        count = uow.session.scalar(select(func.count()).select_from(BatchRow))
    elapsed, peak, row = measure(app, args.baseline)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sizes = ", ".join(f"{fmt} {a['size'] / 1e6:.1f} MB" for fmt, a in row.artifacts.items())
    print(f"{label}: {count:,} batch records ({count * len(ATTRIBUTES):,} results) loaded in {loaded:.1f} s")
    print(f"  report {row.period_label} of {row.product_code}: {elapsed:.1f} s, peak traced memory "
          f"{peak / 1e6:.0f} MB, process peak RSS {rss:.0f} MB")
    print(f"  {row.dataset_rows:,} batches in the report's periods (review + {args.baseline} baseline), "
          f"{row.signals_count} signals; files: {sizes}")
    app.db.dispose()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench report")
    parser.add_argument("--batches", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=10, help="history the batches are spread over")
    parser.add_argument("--baseline", type=int, default=periodic_review.DEFAULT_BASELINE_PERIODS)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/oospath_bench")
    args = parser.parse_args(argv)
    per_period = args.batches / (2 * args.years)
    print(f"periodic review benchmark: {args.batches:,} batches of {PRODUCT} over {args.years} years "
          f"(~{math.floor(per_period):,} per six-month period), review {PERIOD.label}")
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory(prefix="oospath-bench-report-") as directory:
            run("SQLite", f"sqlite:///{Path(directory) / 'bench.db'}", Path(directory), args)
    if args.backend in ("postgresql", "both"):
        url = fresh_postgresql(args.pg_url)
        if url is not None:
            with tempfile.TemporaryDirectory(prefix="oospath-bench-report-") as directory:
                run("PostgreSQL", url, Path(directory), args)
