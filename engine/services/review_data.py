"""The periodic review's data, aggregated in the database (OOS-20, OOS-21, OOS-23).

Why this exists: a product's batch history grows without bound, so the review
must not load every batch into Python. This module computes the same
:class:`~engine.domain.trends.TrendAnalysis` that
:func:`engine.domain.trends.analyse_trends` computes from objects, but:

* **counts and rates per period** come from one ``GROUP BY`` (period, outcome)
  over ``batches``; the period of a batch is a SQL ``CASE`` over the half-open
  period bounds, so placement is the same as :meth:`Period.contains`;
* one streamed pass over the window's rows in batch-id order
  (:func:`read_dataset`) gives the **dataset SHA-256** and the **CSV annex**
  (:class:`~engine.reporting.periodic.DatasetHasher`, the digest
  :func:`~engine.reporting.periodic.dataset_sha256` gives for the same batches
  as objects) and, gathered on the way as numpy columns, each charted
  attribute's released results, sorted into decision order: the **control
  charts** and **capability** are then the pure
  :func:`~engine.domain.trends.chart_of_series` and
  :func:`~engine.domain.trends.capability` (one implementation of the
  analysis; the run rules work over the columns, no object per point);
* **OOS categories and repeat failures** only concern OOS batches (a few per
  cent of all batches): those are loaded as objects and given to
  :func:`~engine.domain.trends.categorise` and
  :func:`~engine.domain.trends.repeat_failures`.

Batch ids are ordered by code point (``COLLATE "C"`` on PostgreSQL, SQLite's
default ``BINARY``), the order Python sorts strings in, so ties and the hash
order agree on both databases. ``tests/integration/test_periodic_review_data.py``
checks that this module and the pure functions agree on the same data.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import math
import uuid
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import numpy as np
from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from engine.domain.specifications import Specification
from engine.domain.trends import (
    OOS_STATUSES,
    STATUSES,
    BatchOutcome,
    ChartSeries,
    OosCategory,
    Period,
    PeriodCounts,
    Thresholds,
    TrendAnalysis,
    TrendError,
    as_datetime64,
    capability,
    categorise,
    chart_of_series,
    compare_rates,
    counts_of,
    numeric_limits,
    repeat_failures,
)
from engine.reporting.periodic import DatasetHasher, annex_header, annex_row_of
from engine.store.models import BatchRow, TestResultRow
from engine.store.review_models import OosCategoryRow

STREAM_CHUNK = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def ordered_batch_id(session: Session, column: Any = BatchRow.batch_id) -> ColumnElement[Any]:
    """``column`` ordered by code point on every database (PostgreSQL's default collation is linguistic)."""
    return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column


def _in_window(product_code: str, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(BatchRow.product_code == product_code, BatchRow.outcome.in_(STATUSES),
                BatchRow.decided_at >= start, BatchRow.decided_at < end)


def _period_index(periods: Sequence[Period]) -> ColumnElement[Any]:
    """SQL: the index of the period containing ``decided_at`` (half-open bounds), -1 outside all of them."""
    return case(*[(and_(BatchRow.decided_at >= p.start, BatchRow.decided_at < p.end), index)
                  for index, p in enumerate(periods)], else_=-1)


# ---- counts and rates (OOS-20) ------------------------------------------------------------------------------
def period_counts(session: Session, product_code: str, periods: Sequence[Period],
                  confidence_level: float = 0.95) -> list[PeriodCounts]:
    """Batches per period and outcome through one GROUP BY; the same as :func:`trends.count_period` per period."""
    inner = (select(_period_index(periods).label("period"), BatchRow.outcome.label("outcome"))
             .where(_in_window(product_code, periods[0].start, periods[-1].end)).subquery())
    tally: dict[tuple[int, str], int] = {
        (period, outcome): count for period, outcome, count in session.execute(
            select(inner.c.period, inner.c.outcome, func.count()).group_by(inner.c.period, inner.c.outcome))}
    return counts_from_tally(product_code, periods, tally, confidence_level)


def tally_by_product(session: Session, periods: Sequence[Period]) -> dict[str, dict[tuple[int, str], int]]:
    """Batches per product, period index and outcome: one GROUP BY (product, period, outcome) over the table."""
    inner = (select(BatchRow.product_code.label("product"), _period_index(periods).label("period"),
                    BatchRow.outcome.label("outcome"))
             .where(BatchRow.outcome.in_(STATUSES), BatchRow.decided_at >= periods[0].start,
                    BatchRow.decided_at < periods[-1].end).subquery())
    tally: dict[str, dict[tuple[int, str], int]] = defaultdict(dict)
    for product, period, outcome, count in session.execute(
            select(inner.c.product, inner.c.period, inner.c.outcome, func.count())
            .group_by(inner.c.product, inner.c.period, inner.c.outcome)):
        tally[product][(period, outcome)] = count
    return dict(sorted(tally.items()))


def period_counts_by_product(session: Session, periods: Sequence[Period], confidence_level: float = 0.95
                             ) -> dict[str, list[PeriodCounts]]:
    """Every product's counts and rates (with Clopper–Pearson intervals) per period, from :func:`tally_by_product`."""
    return {product: counts_from_tally(product, periods, found, confidence_level)
            for product, found in tally_by_product(session, periods).items()}


def counts_from_tally(product_code: str, periods: Sequence[Period], tally: dict[tuple[int, str], int],
                      confidence_level: float) -> list[PeriodCounts]:
    """Each period's counts and rates from the GROUP BY's tally, through the pure :func:`trends.counts_of`."""
    return [counts_of(period, product_code, *(tally.get((index, status), 0) for status in STATUSES),
                      confidence_level=confidence_level) for index, period in enumerate(periods)]


# ---- OOS batches: categories, repeat failures, the report's tables (OOS-21, OOS-23) ------------------------
def numeric_results(session: Session, batch_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """Numeric results of the given batches (qualitative results appear only through OOS categories)."""
    found: dict[str, dict[str, float]] = defaultdict(dict)
    for start in range(0, len(batch_ids), 500):
        chunk = batch_ids[start:start + 500]
        for batch_id, attribute, value in session.execute(
                select(TestResultRow.batch_id, TestResultRow.attribute, TestResultRow.value)
                .where(TestResultRow.batch_id.in_(chunk), TestResultRow.value.is_not(None))):
            found[batch_id][attribute] = value
    return found


def oos_batches(session: Session, product_code: str, start: datetime, end: datetime) -> list[BatchOutcome]:
    """The OOS batches (administered or not) decided in ``[start, end)``, with results and categories."""
    rows = session.execute(select(BatchRow.batch_id, BatchRow.decided_at, BatchRow.outcome)
                           .where(_in_window(product_code, start, end), BatchRow.outcome.in_(OOS_STATUSES))
                           .order_by(BatchRow.decided_at, ordered_batch_id(session))).all()
    ids = [batch_id for batch_id, _, _ in rows]
    categories: dict[str, list[OosCategory]] = defaultdict(list)
    for index in range(0, len(ids), 500):
        for batch_id, kind, attribute, severity in session.execute(
                select(OosCategoryRow.batch_id, OosCategoryRow.type, OosCategoryRow.attribute,
                       OosCategoryRow.severity).where(OosCategoryRow.batch_id.in_(ids[index:index + 500]))
                .order_by(OosCategoryRow.id)):
            categories[batch_id].append(OosCategory(kind, attribute, severity))
    results = numeric_results(session, ids)
    return [BatchOutcome(batch_id, product_code, decided_at, outcome, results.get(batch_id, {}),
                         tuple(categories[batch_id]))
            for batch_id, decided_at, outcome in rows]


# ---- the analysis ------------------------------------------------------------------------------------------
def analyse_in_database(session: Session, specification: Specification, periods: Sequence[Period], *,
                        thresholds: Thresholds, counts: Sequence[PeriodCounts] | None = None,
                        oos: Sequence[BatchOutcome] | None = None,
                        series: Mapping[str, ChartSeries] | None = None) -> TrendAnalysis:
    """:func:`trends.analyse_trends` over the product's decided batches in the database; the last period is current.

    The periods must be consecutive (each ends where the next starts); the earlier ones are the baseline.
    ``counts``, ``oos`` and the charted attributes' ``series`` (:func:`read_dataset`) may be passed when the
    caller already has them. Charts and capability are the pure :func:`chart_of_series` and :func:`capability`.
    """
    ordered = tuple(sorted(periods, key=lambda p: p.start))
    if not ordered:
        raise TrendError("the review needs at least one period")
    if any(a.end != b.start for a, b in itertools.pairwise(ordered)):
        raise TrendError("review periods must be consecutive")
    product_code = specification.product_code
    current, baseline = ordered[-1], ordered[:-1]
    counts = list(counts) if counts is not None else period_counts(session, product_code, ordered,
                                                                   thresholds.confidence_level)
    cur_oos, cur_total = counts[-1].oos, counts[-1].total
    base_oos, base_total = sum(c.oos for c in counts[:-1]), sum(c.total for c in counts[:-1])
    comparison = compare_rates(cur_oos, cur_total, base_oos, base_total) if cur_total and base_total else None
    oos = list(oos) if oos is not None else oos_batches(session, product_code, ordered[0].start, current.end)
    if series is None:
        series = read_dataset(session, specification, ordered, oos).series
    charts, capabilities = [], []
    for attribute, unit, lower, upper in numeric_limits(specification):
        chart = chart_of_series(attribute, series[attribute], unit=unit, lower_spec=lower, upper_spec=upper,
                                min_baseline_points=thresholds.min_baseline_points)
        charts.append(chart)
        capabilities.append(capability(attribute, chart.series.current_values.tolist(), lower=lower, upper=upper,
                                       unit=unit, near_limit_fraction=thresholds.near_limit_fraction,
                                       near_limit_sigmas=thresholds.near_limit_sigmas))
    repeats = repeat_failures(oos, ordered, threshold=thresholds.repeat_failures,
                              consecutive=thresholds.repeat_consecutive_periods)
    return TrendAnalysis(product_code, specification.version, ordered, baseline, tuple(counts), comparison,
                         tuple(charts), tuple(capabilities), tuple(repeats), tuple(categorise(oos, ordered)),
                         thresholds)


# ---- the dataset: SHA-256 and CSV annex in one pass ---------------------------------------------------------
def annex_attributes(session: Session, specification: Specification, product_code: str, start: datetime,
                     end: datetime) -> list[str]:
    """The specification's numeric attributes first, then any other numeric attribute reported in the window."""
    charted = [attribute for attribute, _, _, _ in numeric_limits(specification)]
    reported = session.scalars(select(TestResultRow.attribute).distinct()
                               .join(BatchRow, BatchRow.batch_id == TestResultRow.batch_id)
                               .where(_in_window(product_code, start, end), TestResultRow.value.is_not(None)))
    return charted + sorted(set(reported) - set(charted))


def _window_rows(session: Session, product_code: str, start: datetime, end: datetime,
                 categories: dict[str, list[list[str]]]) -> Iterator[tuple[dict[str, Any], datetime]]:
    """Every batch decided in ``[start, end)`` as a canonical :func:`~engine.reporting.periodic.batch_row` dict
    with its decision time, in batch-id order, streamed: two ordered cursors (batches, results) merged here."""
    window = _in_window(product_code, start, end)
    batches = _driver_rows(session, select(BatchRow.batch_id, BatchRow.decided_at, BatchRow.outcome).where(window)
                           .order_by(ordered_batch_id(session)))
    results = _driver_rows(session, select(TestResultRow.batch_id, TestResultRow.attribute, TestResultRow.value)
                           .join(BatchRow, BatchRow.batch_id == TestResultRow.batch_id)
                           .where(window, TestResultRow.value.is_not(None))
                           .order_by(ordered_batch_id(session, TestResultRow.batch_id), TestResultRow.attribute))
    decision_time = _result_processor(session, BatchRow.decided_at)
    pending = next(results, None)
    for batch_id, stored_time, outcome in batches:
        decided_at = decision_time(stored_time)
        values: dict[str, float] = {}
        while pending is not None and pending[0] == batch_id:
            values[pending[1]] = pending[2]
            pending = next(results, None)
        yield {"batch_id": batch_id, "product_code": product_code, "decided_at": decided_at.isoformat(),
               "status": outcome, "results": values, "oos_categories": sorted(categories.get(batch_id, []))}, decided_at


def _driver_rows(session: Session, query: Select[Any]) -> Iterator[tuple[Any, ...]]:
    """The query's rows as the database driver's own tuples, fetched in chunks from a cursor of its own in the
    session's transaction (server-side on PostgreSQL, so the rows are never all in memory).

    Why not ``session.execute``: without SQLAlchemy's compiled extensions its row objects cost about 4 µs
    each, most of the time of reading 1.4 million rows. The values are rendered into the statement by
    SQLAlchemy's compiler (``literal_binds``: quoted and escaped there); columns that need converting are
    converted by the caller (:func:`_result_processor`).
    """
    dialect = session.get_bind().dialect
    statement = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    connection = session.connection().connection
    cursor = (connection.driver_connection.cursor(name=f"review_{uuid.uuid4().hex}")
              if dialect.name == "postgresql" else connection.cursor())
    try:
        # no parameters, but passed as such: psycopg then reads the compiler's "%%" (a literal "%") as "%"
        cursor.execute(statement, ())
        while rows := cursor.fetchmany(STREAM_CHUNK):
            yield from rows
    finally:
        cursor.close()


def _result_processor(session: Session, column: Any) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value of ``column`` read from this database (e.g. text to an aware UTC time)."""
    dialect = session.get_bind().dialect
    process = column.type.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else (lambda value: value)


def dataset_rows(session: Session, product_code: str, start: datetime, end: datetime,
                 categories: dict[str, list[list[str]]]) -> Iterator[dict[str, Any]]:
    """Every batch decided in ``[start, end)`` as a canonical :func:`~engine.reporting.periodic.batch_row` dict,
    in batch-id order, streamed."""
    return (row for row, _ in _window_rows(session, product_code, start, end, categories))


class _ReleasedColumns:
    """The charted attributes' released results, gathered while the rows stream past in batch-id order
    (compact arrays: 8 bytes a value, not a Python float each)."""

    def __init__(self, attributes: Sequence[str]) -> None:
        self.batch_ids: list[str] = []
        self.times = array("q")  # microseconds since the epoch, UTC
        self.values: dict[str, array[float]] = {attribute: array("d") for attribute in attributes}

    def add(self, row: Mapping[str, Any], decided_at: datetime) -> None:
        if row["status"] != "released":
            return
        self.batch_ids.append(row["batch_id"])
        self.times.append((decided_at - _EPOCH) // _MICROSECOND)
        results = row["results"]
        for attribute, column in self.values.items():
            column.append(results.get(attribute, math.nan))

    def series(self, current_start: datetime) -> dict[str, ChartSeries]:
        """Per attribute, its released results in decision order (batch id breaking ties, as the stable sort of
        rows read in batch-id order keeps them), split at ``current_start``."""
        times = np.frombuffer(self.times, dtype=np.int64).astype("datetime64[us]")
        order = np.argsort(times, kind="stable")
        times, ids = times[order], np.array(self.batch_ids, dtype=object)[order]
        start = as_datetime64([current_start])[0]
        found = {}
        for attribute, column in self.values.items():
            values = np.frombuffer(column, dtype=float)[order]
            present = ~np.isnan(values)
            moments = times[present]
            found[attribute] = ChartSeries(tuple(ids[present]), moments, values[present],
                                           int(np.searchsorted(moments, start)))
        return found


@dataclass(frozen=True)
class DatasetRead:
    """One pass over the window's rows: the dataset's SHA-256 and row count, the charted attributes' series."""

    sha256: str
    rows: int
    series: dict[str, ChartSeries]


def read_dataset(session: Session, specification: Specification, periods: Sequence[Period],
                 oos: Sequence[BatchOutcome], annex: TextIO | None = None) -> DatasetRead:
    """Read every batch of the periods once, in batch-id order: hash it (as :func:`dataset_sha256` would), write
    the CSV annex to ``annex`` if given, and gather the released results of the specification's numeric
    attributes as chart series."""
    product_code, start, end = specification.product_code, periods[0].start, periods[-1].end
    categories = {b.batch_id: [list(c) for c in b.oos_categories] for b in oos}
    starts = [p.start.isoformat() for p in periods]
    labels = [p.label for p in periods]
    charted = [attribute for attribute, _, _, _ in numeric_limits(specification)]
    released = _ReleasedColumns(charted)
    hasher = DatasetHasher()
    writer = None
    if annex is not None:
        attributes = annex_attributes(session, specification, product_code, start, end)
        writer = csv.writer(annex)
        writer.writerow(annex_header(attributes))
    for row, decided_at in _window_rows(session, product_code, start, end, categories):
        hasher.update(row)
        released.add(row, decided_at)
        if writer is not None:  # decided_at is UTC ISO 8601, so string order is time order within the window
            writer.writerow(annex_row_of(row, labels[bisect.bisect_right(starts, row["decided_at"]) - 1],
                                         attributes))
    return DatasetRead(hasher.hexdigest(), hasher.rows, released.series(periods[-1].start))


@dataclass(frozen=True)
class StreamedDataset:
    sha256: str
    rows: int
    annex_csv: bytes


def stream_dataset(session: Session, specification: Specification, periods: Sequence[Period],
                   oos: Sequence[BatchOutcome]) -> StreamedDataset:
    """SHA-256 of the window's rows (as :func:`dataset_sha256` would give) and the CSV annex, in one pass."""
    buffer = io.StringIO()
    read = read_dataset(session, specification, periods, oos, buffer)
    return StreamedDataset(read.sha256, read.rows, buffer.getvalue().encode("utf-8"))
