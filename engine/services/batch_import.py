"""Import of decided batches from LIMS exports (CSV, JSON, JSON Lines) for the periodic review (OOS-20, OOS-21).

Why this exists: the six-monthly review compares OOS batches with every batch
released to specification in the same period, and most of those batches were
released outside oospath. A LIMS export brings them in: one row per batch with
its product, decision time, outcome, release results and, for an OOS batch, the
categorisation (type / attribute / severity).

All or nothing: every row is validated first and each problem is reported with
its line and field; when any row is bad nothing is written. Valid files are
written in the caller's transaction (one unit of work), so an import is never
half done.

Reading the file and checking each row are :mod:`engine.services.batch_file` and
:mod:`engine.services.batch_rows` (formats and checks are described there); this module
looks the products, specifications and existing batches up in the database and writes
the batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from engine.domain.specifications import Specification
from engine.domain.trends import STATUSES
from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.batch_file import MAX_REPORTED_ERRORS, Format, ImportRefused, RowError, records_of
from engine.services.batch_rows import ParsedBatch, RowChecker
from engine.services.catalog import specifications_in_effect
from engine.services.identity import Actor
from engine.services.lims_long_format import LongFormat, is_long_format
from engine.store.models import BatchRow, ProductRow, TestResultRow
from engine.store.review_models import OosCategoryRow

#: The pathway's batch status for each review outcome (an imported batch was decided outside oospath).
BATCH_STATUS = {"released": "certified", "oos_administered": "oos_supplied", "oos_not_administered": "oos_not_supplied"}


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    by_status: dict[str, int]
    products: list[str]
    sha256: str


def parse(session: Session, records: Iterable[tuple[int, Any]],
          progress: Callable[[int], None] | None = None) -> tuple[list[ParsedBatch], list[RowError], int]:
    """Validate every record; returns the parsed batches, every problem found (checked against the database)
    and the number of records read."""
    specs: dict[str, list[Specification]] = {code: [] for code in session.scalars(select(ProductRow.code))}
    for spec in specifications_in_effect(session):
        specs[spec.product_code].append(spec)
    checker = RowChecker(specs)
    parsed: list[ParsedBatch] = []
    first_line: dict[str, int] = {}
    count = 0
    for count, (line, record) in enumerate(records, start=1):  # noqa: B007 (count is the number read)
        batch = checker.check(line, record)
        if batch is not None:
            if batch.batch_id in first_line:
                checker.fail(line, "batch_id", f"'{batch.batch_id}' is already on line {first_line[batch.batch_id]}")
            else:
                first_line[batch.batch_id] = line
                parsed.append(batch)
        if progress is not None:
            progress(1)
    ids = list(first_line)
    for start in range(0, len(ids), 500):
        for existing in session.scalars(select(BatchRow.batch_id).where(BatchRow.batch_id.in_(ids[start:start + 500]))):
            checker.fail(first_line[existing], "batch_id", f"batch '{existing}' already exists")
    return parsed, sorted(checker.errors, key=lambda e: (e.line, e.field)), count


def write(session: Session, batches: list[ParsedBatch], now: datetime,
          progress: Callable[[int], None] | None = None, chunk: int = 2000) -> None:
    """Insert the batches, their results and categories (executemany, in the caller's transaction)."""
    for start in range(0, len(batches), chunk):
        part = batches[start:start + chunk]
        session.execute(insert(BatchRow), [{
            "batch_id": b.batch_id, "product_code": b.product_code, "manufactured_at": b.manufactured_at,
            "imported": False, "manufacturer": b.manufacturer, "importer": None, "mah": None, "sponsor": None,
            "treating_site": b.treating_site, "treating_country": b.treating_country,
            "status": BATCH_STATUS[b.status], "decided_at": b.decided_at, "outcome": b.status} for b in part])
        results = [{"batch_id": b.batch_id, "attribute": r.attribute,
                    "value": None if r.value is None else float(r.value), "text": r.text, "unit": r.unit,
                    "reported_at": now} for b in part for r in b.results]
        if results:
            session.execute(insert(TestResultRow), results)
        categories = [{"batch_id": b.batch_id, "type": t, "attribute": a, "severity": s}
                      for b in part for t, a, s in b.categories]
        if categories:
            session.execute(insert(OosCategoryRow), categories)
        if progress is not None:
            progress(len(part))


def import_batches(session: Session, now: datetime, actor: Actor, content: bytes, fmt: Format, *,
                   source: str = "upload", progress: Callable[[str, int, int], None] | None = None) -> ImportSummary:
    """Validate and import one export; :class:`ImportRefused` (nothing written) when any row is bad.

    ``progress(phase, advance, total)`` is called while validating and while writing (for a progress bar).
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRefused([RowError(1, "(file)", f"not UTF-8 text ({exc.reason})")], 0) from None
    total = text.count('"batch_id"') if fmt == "json" else text.count("\n") - (1 if fmt == "csv" else 0)
    total = max(total, 1)

    def tick(phase: str) -> Callable[[int], None] | None:
        return None if progress is None else (lambda n: progress(phase, n, total))

    long = LongFormat() if is_long_format(text, fmt) else None  # one row per batch and attribute
    records = records_of(text, fmt)
    parsed, errors, rows = parse(session, long.batch_records(records) if long else records, tick("validating"))
    errors = long.relocate(errors) if long else errors
    if errors:
        raise ImportRefused(errors[:MAX_REPORTED_ERRORS], rows)
    if not parsed:
        raise ImportRefused([RowError(1, "(file)", "no batch rows found")], 0)
    if progress is not None:
        total = len(parsed)
    write(session, parsed, now, tick("writing"))
    by_status = {status: sum(b.status == status for b in parsed) for status in STATUSES}
    summary = ImportSummary(len(parsed), by_status, sorted({b.product_code for b in parsed}),
                            hashlib.sha256(content).hexdigest())
    audit.append(session, now, actor, AuditEvent("batches.imported", data_after={
        "source": source, "format": fmt, "rows": summary.rows, "by_status": by_status,
        "products": summary.products, "sha256": summary.sha256, "requirement": "OOS-20"}))
    return summary
