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

Formats (column or key names):

* required: ``batch_id``, ``product_code``, ``decided_at`` (ISO 8601 with a time
  zone; ``decided_at_utc`` accepted, so a report's CSV annex imports back),
  ``status`` (``released``, ``oos_administered``, ``oos_not_administered``);
* optional: ``manufactured_at`` (default: ``decided_at``), ``manufacturer``,
  ``treating_site``, ``treating_country`` (default ``not reported``/``ZZ``);
  ``period`` is ignored;
* ``oos_categories``: CSV ``type / attribute / severity`` joined by ``;``; JSON a
  list of such strings or of ``{"type", "attribute", "severity"}`` objects;
* results: CSV one column per specification attribute (numbers, or the result
  text of a qualitative test such as sterility; empty = not reported); JSON a
  ``results`` object (attribute -> number or text) or a list of
  ``{"attribute", "value" | "text", "unit"}``. Units are the specification's;
  a unit given in JSON must match it exactly.

Checks against the specification in force at manufacture (OOS-01): a
``released`` batch must meet every limit of the results it reports and have no
category; an OOS batch needs at least one category, each naming an attribute of
the specification, and every reported result outside its limit must be
categorised.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from engine.domain.specifications import (
    Specification,
    SpecificationError,
    TestResult,
    detect_oos,
    specification_in_force,
)
from engine.domain.trends import STATUSES
from engine.services import audit
from engine.services.audit import AuditEvent
from engine.services.catalog import specifications_in_effect
from engine.services.errors import ServiceError
from engine.services.identity import Actor
from engine.store.models import BatchRow, ProductRow, TestResultRow
from engine.store.review_models import OosCategoryRow

Format = Literal["csv", "json", "jsonl"]
SEVERITIES = ("minor", "major", "critical", "unclassified")
#: The pathway's batch status for each review outcome (an imported batch was decided outside oospath).
BATCH_STATUS = {"released": "certified", "oos_administered": "oos_supplied", "oos_not_administered": "oos_not_supplied"}
KNOWN_COLUMNS = {"batch_id", "product_code", "decided_at", "decided_at_utc", "status", "manufactured_at",
                 "manufacturer", "treating_site", "treating_country", "period", "oos_categories"}
NOT_REPORTED = "not reported"
MAX_REPORTED_ERRORS = 200


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field}: {self.message}"


class ImportRefused(ServiceError):
    """At least one row is invalid; nothing was imported. ``errors`` lists every problem found."""

    status = 422
    title = "Import refused"

    def __init__(self, errors: list[RowError], rows: int) -> None:
        shown = "; ".join(str(e) for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(f"{len(errors)} problem(s) in {rows} row(s); nothing was imported: {shown}{more}",
                         errors=[{"line": e.line, "field": e.field, "message": e.message} for e in errors])
        self.errors = errors


@dataclass
class ParsedBatch:
    line: int
    batch_id: str
    product_code: str
    decided_at: datetime
    manufactured_at: datetime
    status: str
    manufacturer: str
    treating_site: str
    treating_country: str
    results: list[TestResult] = field(default_factory=list)
    categories: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ImportSummary:
    rows: int
    by_status: dict[str, int]
    products: list[str]
    sha256: str


# ---- reading -------------------------------------------------------------------------------------------------
def detect_format(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    return "json" if suffix == ".json" else "csv"


def csv_records(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, row) of a CSV export with a header row; the line is where the row starts in the file."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:  # reads the header row
        return
    line = reader.line_num + 1
    for record in reader:
        if None in record:
            record["__extra__"] = record.pop(None)  # type: ignore[call-overload]
        yield line, record
        line = reader.line_num + 1


def json_records(text: str) -> Iterator[tuple[int, Any]]:
    """(line, item) of a JSON array, each item located by the line its value starts on."""
    decoder = json.JSONDecoder()
    position, line = 0, 1

    def skip(pos: int) -> int:
        nonlocal line
        while pos < len(text) and text[pos] in " \t\r\n":
            line += text[pos] == "\n"
            pos += 1
        return pos

    position = skip(position)
    if position >= len(text) or text[position] != "[":
        raise ImportRefused([RowError(line, "(file)", "a JSON import is an array of batch objects [ {...}, ... ]")], 0)
    position = skip(position + 1)
    if position < len(text) and text[position] == "]":
        return
    while True:
        try:
            item, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise ImportRefused([RowError(exc.lineno, "(file)", f"not valid JSON: {exc.msg}")], 0) from None
        yield line, item
        line += text.count("\n", position, end)
        position = skip(end)
        if position < len(text) and text[position] == ",":
            position = skip(position + 1)
            continue
        if position < len(text) and text[position] == "]":
            return
        raise ImportRefused([RowError(line, "(file)", "expected ',' or ']' after an array item")], 0)


def jsonl_records(text: str) -> Iterator[tuple[int, Any]]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            try:
                yield number, json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ImportRefused([RowError(number, "(line)", f"not valid JSON: {exc.msg}")], 0) from None


def records_of(text: str, fmt: Format) -> Iterator[tuple[int, Any]]:
    return {"csv": csv_records, "json": json_records, "jsonl": jsonl_records}[fmt](text)


# ---- validation ----------------------------------------------------------------------------------------------
class _RowChecker:
    """Turns one record into a :class:`ParsedBatch`, collecting (line, field, message) problems."""

    def __init__(self, specs: Mapping[str, list[Specification]]) -> None:
        self.specs = specs
        self.errors: list[RowError] = []

    def fail(self, line: int, name: str, message: str) -> None:
        self.errors.append(RowError(line, name, message))

    def text(self, record: Mapping[str, Any], line: int, name: str, *, required: bool = False,
             max_length: int = 300) -> str | None:
        value = record.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(line, name, "is required")
            return None
        if not isinstance(value, str):
            self.fail(line, name, f"must be text, got {type(value).__name__}")
            return None
        if len(value.strip()) > max_length:
            self.fail(line, name, f"longer than {max_length} characters")
            return None
        return value.strip()

    def moment(self, record: Mapping[str, Any], line: int, name: str, *, required: bool,
               alias: str | None = None) -> datetime | None:
        key = name if record.get(name) not in (None, "") or alias is None else alias
        raw = self.text(record, line, key, required=False)
        if raw is None:
            if required:
                self.fail(line, name, "is required (ISO 8601 with a time zone, e.g. 2026-03-02T09:30:00Z)")
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            self.fail(line, key, f"'{raw}' is not an ISO 8601 date-time")
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            self.fail(line, key, f"'{raw}' has no time zone; give one (e.g. 'Z' or '+01:00'), GMP records store UTC")
            return None
        return value

    def check(self, line: int, record: Any) -> ParsedBatch | None:
        if not isinstance(record, Mapping):
            self.fail(line, "(row)", "each batch must be an object")
            return None
        before = len(self.errors)
        if record.get("__extra__"):
            self.fail(line, "(row)", "more values than header columns")
        batch_id = self.text(record, line, "batch_id", required=True, max_length=100)
        product_code = self.text(record, line, "product_code", required=True, max_length=100)
        decided_at = self.moment(record, line, "decided_at", required=True, alias="decided_at_utc")
        manufactured_at = self.moment(record, line, "manufactured_at", required=False)
        status = self.text(record, line, "status", required=True)
        if status is not None and status not in STATUSES:
            self.fail(line, "status", f"'{status}' is not one of {', '.join(STATUSES)}")
            status = None
        country = self.text(record, line, "treating_country") or "ZZ"
        if len(country) != 2 or not country.isalpha() or not country.isupper():
            self.fail(line, "treating_country", f"'{country}' is not a two-letter country code")
        specs = self.specs.get(product_code or "")
        if product_code is not None and specs is None:
            self.fail(line, "product_code", f"product '{product_code}' does not exist; add it first")
        elif product_code is not None and not specs:
            self.fail(line, "product_code", f"product '{product_code}' has no approved specification version: a "
                                            "version judges batches once QA approved it (OOS-24)")
        spec = None
        if specs and (decided_at or manufactured_at):
            try:
                spec = specification_in_force(specs, manufactured_at or decided_at, product_code=product_code)
            except SpecificationError as exc:
                self.fail(line, "manufactured_at" if manufactured_at else "decided_at", str(exc))
        results = self.results(record, line, spec) if spec is not None else []
        categories = self.categories(record, line, spec)
        if len(self.errors) > before or batch_id is None or product_code is None or decided_at is None \
                or status is None or spec is None:
            return None
        self.consistency(line, status, spec, results, categories)
        if len(self.errors) > before:
            return None
        return ParsedBatch(line, batch_id, product_code, decided_at, manufactured_at or decided_at, status,
                           self.text(record, line, "manufacturer") or NOT_REPORTED,
                           self.text(record, line, "treating_site") or NOT_REPORTED, country, results, categories)

    def results(self, record: Mapping[str, Any], line: int, spec: Specification) -> list[TestResult]:
        limits = {limit.attribute: limit for limit in spec.limits}
        raw = record.get("results")
        entries: list[tuple[str, Any, str | None]] = []  # (attribute, value or text, unit given)
        if raw is None:  # CSV: every column that is not a known one is a result
            entries = [(name, value, None) for name, value in record.items()
                       if name not in KNOWN_COLUMNS and name != "__extra__"]
        elif isinstance(raw, Mapping):
            entries = [(name, value, None) for name, value in raw.items()]
        elif isinstance(raw, list):
            for index, item in enumerate(raw):
                if not isinstance(item, Mapping) or not isinstance(item.get("attribute"), str):
                    self.fail(line, f"results/{index}", "needs an 'attribute' and a 'value' or 'text'")
                    continue
                entries.append((item["attribute"], item.get("value", item.get("text")), item.get("unit")))
        else:
            self.fail(line, "results", "must be an object (attribute -> value) or a list of results")
        found: list[TestResult] = []
        for name, value, unit in entries:
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            limit = limits.get(name)
            where = name if raw is None else f"results/{name}"
            if limit is None:
                self.fail(line, where, f"'{name}' is not an attribute of {spec.product_code} "
                                       f"specification v{spec.version}")
                continue
            if unit is not None and unit != limit.unit:
                self.fail(line, where, f"unit {unit!r} differs from the specification's {limit.unit!r} "
                                       "(units are never converted)")
                continue
            if limit.is_qualitative:
                if not isinstance(value, str):
                    self.fail(line, where, f"is judged by result text ({limit.describe()}), got {value!r}")
                    continue
                found.append(TestResult(name, text=value.strip(), unit=limit.unit))
                continue
            number = self.number(value)
            if number is None:
                self.fail(line, where, f"'{value}' is not a number")
                continue
            found.append(TestResult(name, number, unit=limit.unit))
        return found

    @staticmethod
    def number(value: Any) -> float | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            number = float(value)
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                return None
        return number if math.isfinite(number) else None

    def categories(self, record: Mapping[str, Any], line: int, spec: Specification | None
                   ) -> list[tuple[str, str, str]]:
        raw = record.get("oos_categories")
        if raw is None or raw == "":
            return []
        items: list[Any] = [part for part in raw.split(";") if part.strip()] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            self.fail(line, "oos_categories", "must be 'type / attribute / severity; ...' or a list")
            return []
        found = []
        for index, item in enumerate(items):
            if isinstance(item, str):
                parts = [part.strip() for part in item.split("/")]
            elif isinstance(item, Mapping):
                parts = [str(item.get(key, "")).strip() for key in ("type", "attribute", "severity")]
            else:
                parts = []
            if len(parts) != 3 or not all(parts):
                self.fail(line, "oos_categories", f"category {index + 1} must be 'type / attribute / severity'")
                continue
            kind, attribute, severity = parts
            if severity not in SEVERITIES:
                self.fail(line, "oos_categories", f"severity '{severity}' is not one of {', '.join(SEVERITIES)}")
            elif spec is not None and attribute not in {limit.attribute for limit in spec.limits}:
                self.fail(line, "oos_categories", f"'{attribute}' is not an attribute of {spec.product_code} "
                                                  f"specification v{spec.version}")
            else:
                found.append((kind, attribute, severity))
        return found

    def consistency(self, line: int, status: str, spec: Specification, results: list[TestResult],
                    categories: list[tuple[str, str, str]]) -> None:
        try:
            findings = [f for f in detect_oos(results, spec) if f.is_out_of_limits]
        except SpecificationError as exc:
            self.fail(line, "results", str(exc))
            return
        if status == "released":
            if categories:
                self.fail(line, "oos_categories", "a batch released to specification has no OOS category")
            for finding in findings:
                self.fail(line, finding.attribute, f"released to specification, but {finding.measured} is "
                                                   f"{finding.reason} ({finding.limit}, specification "
                                                   f"v{spec.version})")
            return
        if not categories:
            self.fail(line, "oos_categories", f"an OOS batch ({status}) needs at least one category "
                                              "'type / attribute / severity'")
        categorised = {attribute for _, attribute, _ in categories}
        for finding in findings:
            if finding.attribute not in categorised:
                self.fail(line, "oos_categories", f"{finding.attribute} {finding.measured} is {finding.reason} "
                                                  f"({finding.limit}) but has no category")


def parse(session: Session, records: Iterable[tuple[int, Any]],
          progress: Callable[[int], None] | None = None) -> tuple[list[ParsedBatch], list[RowError], int]:
    """Validate every record; returns the parsed batches, every problem found (checked against the database)
    and the number of records read."""
    specs: dict[str, list[Specification]] = {code: [] for code in session.scalars(select(ProductRow.code))}
    for spec in specifications_in_effect(session):
        specs[spec.product_code].append(spec)
    checker = _RowChecker(specs)
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

    from engine.services.lims_long_format import LongFormat, is_long_format  # it builds on this module's rows

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
