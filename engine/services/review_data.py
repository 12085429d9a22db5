"""The periodic review's data, aggregated in the database (OOS-20, OOS-21, OOS-23).

Why this exists: a product's batch history grows without bound, so the review
must not load every batch into Python. This module computes the same
:class:`~engine.domain.trends.TrendAnalysis` that
:func:`engine.domain.trends.analyse_trends` computes from objects, but:

* **counts and rates per period** come from one ``GROUP BY`` (period, outcome)
  over ``batches``; the period of a batch is a SQL ``CASE`` over the half-open
  period bounds, so placement is the same as :meth:`Period.contains`;
* **capability** (n, mean, the sum of squared deviations, the mean moving range
  in decision order through ``LAG``) and the **near-limit counts** are SQL
  aggregates over the current period's released results;
* the **control charts** need every released result in decision order: each
  attribute's series for the baseline and current periods is loaded as
  (batch id, decision time, value) columns and handed to the pure
  :func:`~engine.domain.trends.imr_limits` and
  :func:`~engine.domain.trends.evaluate_rules`;
* **OOS categories and repeat failures** only concern OOS batches (a few per
  cent of all batches): those are loaded as objects and given to
  :func:`~engine.domain.trends.categorise` and
  :func:`~engine.domain.trends.repeat_failures`;
* the **dataset SHA-256** and the **CSV annex** are written in one streaming
  pass over the rows in batch-id order (:class:`~engine.reporting.periodic.DatasetHasher`),
  giving the digest :func:`~engine.reporting.periodic.dataset_sha256` gives for
  the same batches as objects.

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
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from engine.domain.specifications import Specification
from engine.domain.trends import (
    D2,
    OOS_STATUSES,
    STATUSES,
    BatchOutcome,
    Capability,
    ChartPoint,
    ControlChart,
    OosCategory,
    Period,
    PeriodCounts,
    Thresholds,
    TrendAnalysis,
    TrendError,
    capability,
    categorise,
    clopper_pearson,
    compare_rates,
    evaluate_rules,
    imr_limits,
    near_limit_band,
    numeric_limits,
    repeat_failures,
)
from engine.reporting.periodic import DatasetHasher, annex_header, annex_row_of
from engine.store.models import BatchRow, OosCategoryRow, TestResultRow

STREAM_CHUNK = 10_000


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
    counts = []
    for index, period in enumerate(periods):
        released, administered, not_administered = (tally.get((index, status), 0) for status in STATUSES)
        total = released + administered + not_administered
        rate_ci = clopper_pearson(administered + not_administered, total, confidence_level) if total else None
        administered_total = administered + released
        administered_ci = (clopper_pearson(administered, administered_total, confidence_level)
                           if administered_total else None)
        counts.append(PeriodCounts(period, product_code, released, administered, not_administered, rate_ci,
                                   administered_ci))
    return counts


# ---- control charts (OOS-21) --------------------------------------------------------------------------------
def _released_results(product_code: str, attribute: str, start: datetime, end: datetime) -> Any:
    return (select(BatchRow.batch_id, BatchRow.decided_at, TestResultRow.value)
            .join(TestResultRow, TestResultRow.batch_id == BatchRow.batch_id)
            .where(BatchRow.product_code == product_code, BatchRow.outcome == "released",
                   BatchRow.decided_at >= start, BatchRow.decided_at < end,
                   TestResultRow.attribute == attribute, TestResultRow.value.is_not(None)))


def control_chart_from_db(session: Session, product_code: str, attribute: str, baseline_start: datetime,
                          current: Period, *, unit: str | None, lower: float | None, upper: float | None,
                          min_baseline_points: int) -> ControlChart:
    """I-MR chart of one attribute: the released results as columns, the statistics from :mod:`trends`."""
    query = (_released_results(product_code, attribute, baseline_start, current.end)
             .order_by(BatchRow.decided_at, ordered_batch_id(session)))
    rows = session.execute(query).all()
    first_current = bisect.bisect_left([decided_at for _, decided_at, _ in rows], current.start)
    points = tuple(ChartPoint(batch_id, decided_at, value, index >= first_current)
                   for index, (batch_id, decided_at, value) in enumerate(rows))
    base_values = [value for _, _, value in rows[:first_current]]
    if len(base_values) < min_baseline_points:
        note = f"baseline has {len(base_values)} released results, fewer than {min_baseline_points}: no limits"
        return ControlChart(attribute, unit, lower, upper, points, None, (), note)
    try:
        limits = imr_limits(base_values)
    except TrendError as exc:
        return ControlChart(attribute, unit, lower, upper, points, None, (), str(exc))
    violations = evaluate_rules([value for _, _, value in rows], limits, attribute=attribute,
                                batch_ids=[batch_id for batch_id, _, _ in rows], first_current=first_current)
    return ControlChart(attribute, unit, lower, upper, points, limits, tuple(violations))


# ---- capability and near-limit share (OOS-21) ---------------------------------------------------------------
def _capability_index(mean: float, sigma: float | None, lower: float | None, upper: float | None) -> float | None:
    """min(USL − μ, μ − LSL) / 3σ over the limits that exist: the formula of :func:`trends.capability`."""
    if sigma is None or sigma == 0:
        return None
    inside = [d for d in ((mean - lower) if lower is not None else None,
                          (upper - mean) if upper is not None else None) if d is not None]
    return min(inside) / (3 * sigma)


def capability_from_db(session: Session, product_code: str, attribute: str, current: Period, *,
                       unit: str | None, lower: float | None, upper: float | None,
                       near_limit_fraction: float, near_limit_sigmas: float) -> Capability:
    """Cpk, Ppk and the near-limit count of the current period's released results, aggregated in SQL."""
    values = _released_results(product_code, attribute, current.start, current.end).subquery()
    n, mean = session.execute(select(func.count(values.c.value), func.avg(values.c.value))).one()
    if n < 2:  # trends.capability's own answer for zero or one value
        single = [] if n == 0 else [float(mean)]
        return capability(attribute, single, lower=lower, upper=upper, unit=unit,
                          near_limit_fraction=near_limit_fraction, near_limit_sigmas=near_limit_sigmas)
    mean = float(mean)
    (squares,) = session.execute(select(func.sum((values.c.value - mean) * (values.c.value - mean)))).one()
    previous = func.lag(values.c.value).over(order_by=(values.c.decided_at, ordered_batch_id(session,
                                                                                             values.c.batch_id)))
    lagged = select(values.c.value.label("value"), previous.label("previous")).subquery()
    (mr_bar,) = session.execute(select(func.avg(func.abs(lagged.c.value - lagged.c.previous)))
                                .where(lagged.c.previous.is_not(None))).one()
    sigma_within = float(mr_bar) / D2
    sigma_overall = math.sqrt(float(squares) / (n - 1))
    band = near_limit_band(lower, upper, fraction=near_limit_fraction, sigmas=near_limit_sigmas,
                           sigma_within=sigma_within)
    near_conditions = [*([values.c.value - lower <= band] if lower is not None else []),
                       *([upper - values.c.value <= band] if upper is not None else [])]
    (near,) = session.execute(select(func.coalesce(func.sum(case((or_(*near_conditions), 1), else_=0)), 0))).one()
    return Capability(attribute, unit, lower, upper, n, mean, sigma_within, sigma_overall,
                      _capability_index(mean, sigma_within, lower, upper),
                      _capability_index(mean, sigma_overall, lower, upper), band, int(near))


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
                        oos: Sequence[BatchOutcome] | None = None) -> TrendAnalysis:
    """:func:`trends.analyse_trends` over the product's decided batches in the database; the last period is current.

    The periods must be consecutive (each ends where the next starts); the earlier ones are the baseline.
    ``counts`` and ``oos`` may be passed when the caller already has them.
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
    charts, capabilities = [], []
    for attribute, unit, lower, upper in numeric_limits(specification):
        charts.append(control_chart_from_db(session, product_code, attribute, ordered[0].start, current,
                                            unit=unit, lower=lower, upper=upper,
                                            min_baseline_points=thresholds.min_baseline_points))
        capabilities.append(capability_from_db(session, product_code, attribute, current, unit=unit, lower=lower,
                                               upper=upper, near_limit_fraction=thresholds.near_limit_fraction,
                                               near_limit_sigmas=thresholds.near_limit_sigmas))
    oos = list(oos) if oos is not None else oos_batches(session, product_code, ordered[0].start, current.end)
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


def dataset_rows(session: Session, product_code: str, start: datetime, end: datetime,
                 categories: dict[str, list[list[str]]]) -> Iterator[dict[str, Any]]:
    """Every batch decided in ``[start, end)`` as a canonical :func:`~engine.reporting.periodic.batch_row` dict,
    in batch-id order, streamed: batches and results are two ordered server-side cursors merged here."""
    window = _in_window(product_code, start, end)
    batches = session.execute(
        select(BatchRow.batch_id, BatchRow.decided_at, BatchRow.outcome).where(window)
        .order_by(ordered_batch_id(session)).execution_options(yield_per=STREAM_CHUNK))
    results = session.execute(
        select(TestResultRow.batch_id, TestResultRow.attribute, TestResultRow.value)
        .join(BatchRow, BatchRow.batch_id == TestResultRow.batch_id)
        .where(window, TestResultRow.value.is_not(None))
        .order_by(ordered_batch_id(session, TestResultRow.batch_id), TestResultRow.attribute)
        .execution_options(yield_per=STREAM_CHUNK))
    pending = next(results, None)
    for batch_id, decided_at, outcome in batches:
        values: dict[str, float] = {}
        while pending is not None and pending[0] == batch_id:
            values[pending[1]] = pending[2]
            pending = next(results, None)
        yield {"batch_id": batch_id, "product_code": product_code, "decided_at": decided_at.isoformat(),
               "status": outcome, "results": dict(sorted(values.items())),
               "oos_categories": sorted(categories.get(batch_id, []))}


@dataclass(frozen=True)
class StreamedDataset:
    sha256: str
    rows: int
    annex_csv: bytes


def stream_dataset(session: Session, specification: Specification, periods: Sequence[Period],
                   oos: Sequence[BatchOutcome]) -> StreamedDataset:
    """SHA-256 of the window's rows (as :func:`dataset_sha256` would give) and the CSV annex, in one pass."""
    product_code, start, end = specification.product_code, periods[0].start, periods[-1].end
    attributes = annex_attributes(session, specification, product_code, start, end)
    categories = {b.batch_id: [list(c) for c in b.oos_categories] for b in oos}
    starts = [p.start.isoformat() for p in periods]
    labels = [p.label for p in periods]
    hasher = DatasetHasher()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(annex_header(attributes))
    for row in dataset_rows(session, product_code, start, end, categories):
        hasher.update(row)
        # decided_at is UTC ISO 8601, so string order is time order within the window
        writer.writerow(annex_row_of(row, labels[bisect.bisect_right(starts, row["decided_at"]) - 1], attributes))
    return StreamedDataset(hasher.hexdigest(), hasher.rows, buffer.getvalue().encode("utf-8"))
