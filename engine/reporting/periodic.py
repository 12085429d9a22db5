"""The six-monthly periodic review as a report: model, provenance, JSON and CSV annex (OOS-20, OOS-21, OOS-23).

Why this exists: the Quality Defect Report sent to EMA every six months
(OOS-20) must be reproducible and self-describing. A reader must be able to
tell which batches were compared and why (comparator selection, OOS-21), check
that the statistics were computed from exactly the data on file (the SHA-256
of the input rows), and know which software computed them (the version). The
analysis itself lives in :mod:`engine.domain.trends`; this module wraps it
with that metadata and writes the CSV annex (one row per batch). The JSON
rendering (machine-readable, round-trips to the same :class:`PeriodicReport`)
is in :mod:`engine.reporting.json_report`, HTML and PDF in
:mod:`engine.reporting.html_report` and :mod:`engine.reporting.pdf_report`.

Provenance choices:

* **Dataset hash**: SHA-256 of the canonical JSON of the input rows: one object
  per batch (id, product, decision time in UTC ISO 8601, status, results with
  sorted keys, categories sorted), rows sorted by batch id then time, keys
  sorted, no whitespace, UTF-8. Input order, dictionary order and the time zone
  a time was given in do not change the hash; any change to a value does.
* **Software version**: ``importlib.metadata.version("oospath")``; a source tree
  that is not installed reports ``0+unknown`` rather than failing.

Nothing here reads a clock: ``generated_at`` is passed in.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from engine.domain.specifications import Specification
from engine.domain.trends import (
    BatchOutcome,
    Period,
    Signal,
    Thresholds,
    TrendAnalysis,
    TrendError,
    analyse_trends,
    period_of,
    review_signals,
)

UNKNOWN_VERSION = "0+unknown"
DEFAULT_TITLE = "Six-monthly periodic review of OOS batches (Quality Defect Report)"


def software_version() -> str:
    """The installed oospath version, or ``0+unknown`` for an uninstalled source tree."""
    try:
        return metadata.version("oospath")
    except metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def batch_row(batch: BatchOutcome) -> dict[str, Any]:
    """One batch as plain data in canonical form (UTC time, sorted results and categories)."""
    return {
        "batch_id": batch.batch_id,
        "product_code": batch.product_code,
        "decided_at": batch.decided_at.astimezone(UTC).isoformat(),
        "status": batch.status,
        "results": dict(sorted(batch.results.items())),
        "oos_categories": sorted(list(category) for category in batch.oos_categories),
    }


def canonical_dataset_json(batches: Iterable[BatchOutcome]) -> str:
    """The input rows as canonical JSON (see the module docstring); what :func:`dataset_sha256` hashes."""
    rows = sorted((batch_row(b) for b in batches), key=lambda row: (row["batch_id"], row["decided_at"]))
    return json.dumps(rows, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dataset_sha256(batches: Iterable[BatchOutcome]) -> str:
    """Hex SHA-256 of :func:`canonical_dataset_json`: proves which data a report was computed from."""
    return hashlib.sha256(canonical_dataset_json(batches).encode("utf-8")).hexdigest()


_ROW_KEYS = frozenset({"batch_id", "decided_at", "oos_categories", "product_code", "results", "status"})
_TEXT_FIELDS = ("batch_id", "decided_at", "product_code", "status")
_NESTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_TEXT = json.encoder.encode_basestring  # type: ignore[attr-defined]  # json's own escaping (ensure_ascii=False)


def canonical_row_json(row: Mapping[str, Any]) -> str:
    """One row of :func:`canonical_dataset_json` (a :func:`batch_row` dict), exactly as it appears in the array.

    The usual row is assembled in sorted key order from its text fields escaped by ``json``'s own escaping
    and its results and categories encoded by ``json`` with the same options: the same text as
    ``json.dumps(row, sort_keys=True, ...)``, a few times faster over 200,000 rows. Any other row goes
    through ``json.dumps`` itself.
    """
    if row.keys() != _ROW_KEYS or any(type(row[name]) is not str for name in _TEXT_FIELDS):
        return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    categories = row["oos_categories"]
    return (f'{{"batch_id":{_TEXT(row["batch_id"])},"decided_at":{_TEXT(row["decided_at"])},'
            f'"oos_categories":{_NESTED(categories) if categories else "[]"},'
            f'"product_code":{_TEXT(row["product_code"])},"results":{_NESTED(row["results"])},'
            f'"status":{_TEXT(row["status"])}}}')


class DatasetHasher:
    """:func:`dataset_sha256` computed row by row, for datasets too large to hold in memory.

    Feed the :func:`batch_row` dicts in canonical order (batch id, then decision time); the digest is then
    identical to ``dataset_sha256`` of the same batches, because the canonical JSON array is
    ``[`` + rows joined by ``,`` + ``]``. A row out of order is refused rather than hashed wrongly.
    """

    def __init__(self) -> None:
        self._digest = hashlib.sha256(b"[")
        self._last: tuple[str, str] | None = None
        self.rows = 0

    def update(self, row: Mapping[str, Any]) -> None:
        key = (row["batch_id"], row["decided_at"])
        if self._last is not None and key < self._last:
            raise TrendError(f"dataset rows out of canonical order at batch {row['batch_id']}")
        self._last = key
        self._digest.update((b"," if self.rows else b"") + canonical_row_json(row).encode("utf-8"))
        self.rows += 1

    def hexdigest(self) -> str:
        final = self._digest.copy()
        final.update(b"]")
        return final.hexdigest()


@dataclass(frozen=True)
class DatasetInfo:
    """Where the input rows of a report computed in the database are (see :class:`PeriodicReport`).

    ``rows`` is the number of batches the SHA-256 covers (every batch of the product decided in the analysed
    periods), ``source`` says where they were read and how they were aggregated, ``annex`` names the CSV file
    that lists them, one row per batch in batch-id order.
    """

    rows: int
    source: str
    annex: str


@dataclass(frozen=True)
class PeriodicReport:
    """Everything the periodic review states, with its provenance (OOS-20, OOS-21).

    ``period`` is the period under review; ``batches`` are exactly the input
    rows the hash covers (rows outside every review period are kept for the
    annex but ignored by the statistics); ``signals`` are the OOS-23
    escalations, each opening a CAPA and a management-review task.

    A report computed in the database (:mod:`engine.services.review_data`)
    sets ``dataset``: the statistics were aggregated in SQL over
    ``dataset.rows`` batches, which are listed in the CSV annex written with
    the report, and ``batches`` holds only the OOS batches of the analysed
    periods (the ones the report's tables name).
    """

    product_code: str
    product_name: str
    specification_version: int
    period: Period
    comparator_selection: str
    dataset_sha256: str
    software_version: str
    generated_at: datetime
    analysis: TrendAnalysis
    signals: tuple[Signal, ...]
    batches: tuple[BatchOutcome, ...]
    title: str = DEFAULT_TITLE
    dataset: DatasetInfo | None = None

    @property
    def batches_outside_periods(self) -> tuple[BatchOutcome, ...]:
        """Input rows decided outside every review period (listed in the annex, not analysed)."""
        return tuple(b for b in self.batches if period_of(b.decided_at, self.analysis.periods) is None)

    @property
    def input_rows(self) -> int:
        """How many batches the dataset hash covers."""
        return self.dataset.rows if self.dataset is not None else len(self.batches)

    def input_description(self) -> str:
        """The "Input batches" line of the HTML and PDF metadata."""
        if self.dataset is not None:
            return (f"{self.dataset.rows} decided in the periods analysed, aggregated in the database "
                    f"({self.dataset.source}); every one is listed in the annex {self.dataset.annex}")
        outside = len(self.batches_outside_periods)
        return f"{len(self.batches)} ({outside} outside the review periods, not analysed)"


def default_comparator_selection(analysis: TrendAnalysis) -> str:
    """The comparator text of OOS-21: which released batches are compared with the OOS batches, and why."""
    counts = analysis.current_counts
    baseline = ", ".join(p.label for p in analysis.baseline_periods) or "none"
    baseline_n = sum(c.total for c in analysis.counts if c.period in analysis.baseline_periods)
    return (
        f"Comparators are all {counts.released} batches of {analysis.product_code} released to specification "
        f"with a release decision in {analysis.current.label}, the same period as the {counts.oos} OOS batches "
        f"({counts.oos_administered} administered, {counts.oos_not_administered} not administered): the same "
        f"process, the same period and specification v{analysis.specification_version}, so the comparison "
        f"shows the period's OOS burden without selection. No released batch of the period was excluded. "
        f"Earlier periods ({baseline}; {baseline_n} batches) are pooled as the baseline for the OOS-rate "
        f"comparison and for the control limits of the released batches' results."
    )


def build_periodic_report(
    batches: Iterable[BatchOutcome],
    specification: Specification,
    periods: Sequence[Period],
    *,
    product_name: str,
    generated_at: datetime,
    comparator_selection: str | None = None,
    thresholds: Thresholds | None = None,
    baseline_periods: Sequence[Period] | None = None,
    version: str | None = None,
    title: str = DEFAULT_TITLE,
) -> PeriodicReport:
    """Analyse ``batches`` (see :func:`engine.domain.trends.analyse_trends`) and wrap the result with provenance."""
    if generated_at.tzinfo is None or generated_at.utcoffset() is None:
        raise TrendError("generated_at must be timezone-aware (UTC)")
    rows = tuple(sorted(batches, key=lambda b: (b.decided_at, b.batch_id)))
    analysis = analyse_trends(rows, specification, periods, thresholds=thresholds, baseline_periods=baseline_periods)
    return PeriodicReport(
        product_code=specification.product_code,
        product_name=product_name,
        specification_version=specification.version,
        period=analysis.current,
        comparator_selection=comparator_selection or default_comparator_selection(analysis),
        dataset_sha256=dataset_sha256(rows),
        software_version=version or software_version(),
        generated_at=generated_at,
        analysis=analysis,
        signals=tuple(review_signals(analysis)),
        batches=rows,
        title=title,
    )


# --- CSV annex ---------------------------------------------------------------------------------------------------


def annex_attributes(report: PeriodicReport) -> list[str]:
    """Result columns of the annex: the specification's numeric attributes first, then any other reported ones."""
    charted = [chart.attribute for chart in report.analysis.charts]
    others = sorted({a for b in report.batches for a in b.results} - set(charted))
    return charted + others


def _format_value(value: float | None) -> str:
    return "" if value is None else repr(value)


def annex_header(attributes: Sequence[str]) -> list[str]:
    """The CSV annex's header row for these result columns."""
    return ["batch_id", "product_code", "decided_at_utc", "period", "status", *attributes, "oos_categories"]


def annex_row(batch: BatchOutcome, attributes: Sequence[str], periods: Sequence[Period]) -> list[str]:
    """One batch as a CSV annex row (see :func:`render_csv_annex`)."""
    period = period_of(batch.decided_at, periods)
    return annex_row_of(batch_row(batch), period.label if period else "", attributes)


def annex_row_of(row: Mapping[str, Any], period_label: str, attributes: Sequence[str]) -> list[str]:
    """A CSV annex row from a :func:`batch_row` dict (what the database path streams without building objects)."""
    results = row["results"]
    values = [_format_value(results.get(attribute)) for attribute in attributes]
    categories = row["oos_categories"]
    named = "; ".join(f"{kind} / {attribute} / {severity}" for kind, attribute, severity in categories)
    return [row["batch_id"], row["product_code"], row["decided_at"], period_label, row["status"], *values,
            named if categories else ""]


def render_csv_annex(report: PeriodicReport) -> str:
    """One row per input batch: id, decision time (UTC), period, status, every result, OOS categories.

    Categories are written ``type / attribute / severity`` separated by ``; ``;
    a batch outside every review period has an empty period. A report computed
    in the database (``report.dataset`` set) writes its annex while reading the
    rows (:mod:`engine.services.review_data`), with the same two functions above.
    """
    if report.dataset is not None:
        raise TrendError(f"the annex of a report computed in the database is {report.dataset.annex}")
    attributes = annex_attributes(report)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(annex_header(attributes))
    for batch in report.batches:
        writer.writerow(annex_row(batch, attributes, report.analysis.periods))
    return buffer.getvalue()


__all__ = [
    "DEFAULT_TITLE",
    "DatasetHasher",
    "DatasetInfo",
    "PeriodicReport",
    "annex_attributes",
    "annex_header",
    "annex_row",
    "annex_row_of",
    "batch_row",
    "build_periodic_report",
    "canonical_dataset_json",
    "canonical_row_json",
    "dataset_sha256",
    "default_comparator_selection",
    "render_csv_annex",
    "software_version",
]
