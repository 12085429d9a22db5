"""LIMS exports in long format: one row per batch and attribute, pivoted to one batch each (OOS-20, OOS-21).

Many LIMS export release results as one row per batch and tested attribute::

    batch_id,product_code,decided_at,status,...,attribute,value,unit
    TIL-25-0001,TIL-MEL-IMP,2025-03-02T09:30:00Z,released,...,viability,82.5,%
    TIL-25-0001,TIL-MEL-IMP,2025-03-02T09:30:00Z,released,...,sterility,no growth,

with the batch columns (those of the wide format, see :mod:`engine.services.batch_rows`)
repeated on every row. A file is in long format when its header (CSV) or its items (JSON)
have ``attribute`` and ``value`` and no ``results``. The rows of one batch need not be
adjacent. Each batch becomes one record with a ``results`` list, so the same checks as for
the wide format apply; every problem keeps the line of the original row it comes from:

* the rows of one batch must agree on every batch column (the line of the disagreeing row);
* an attribute given twice for one batch is refused (the second row's line);
* a result problem (unknown attribute, a unit that differs from the specification's, a value
  that is not a number, a released result outside its limit) names its own row's line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.services.batch_file import RowError
from engine.services.batch_rows import KNOWN_COLUMNS

RESULT_COLUMNS = ("attribute", "value", "text", "unit")
LINES = "__lines__"


def is_long_format(text: str, fmt: str) -> bool:
    """Long format: ``attribute`` and ``value`` columns (keys) and no ``results``."""
    if fmt == "csv":
        header = next(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")), [])
        names = {name.strip() for name in header}
        return {"attribute", "value"} <= names and "results" not in names
    return '"attribute"' in text and '"value"' in text and '"results"' not in text


@dataclass
class _Batch:
    line: int
    columns: dict[str, Any]
    results: list[dict[str, Any]] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # attribute -> line of its row


class LongFormat:
    """Pivots long-format records into one record per batch and relocates the problems to the original rows."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.batches: dict[str, _Batch] = {}

    def batch_records(self, records: Iterable[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
        """(line of the batch's first row, batch record with ``results``) for every batch, in first-seen order."""
        for line, record in records:
            self._add_row(line, record)
        for batch in self.batches.values():
            yield batch.line, {**batch.columns, "results": batch.results, LINES: batch.lines}

    def _add_row(self, line: int, record: Any) -> None:
        if not isinstance(record, Mapping):
            self.errors.append(RowError(line, "(row)", "each row must be an object"))
            return
        if record.get("__extra__"):
            self.errors.append(RowError(line, "(row)", "more values than header columns"))
            return
        batch_id = record.get("batch_id")
        if not isinstance(batch_id, str) or not batch_id.strip():
            self.errors.append(RowError(line, "batch_id", "is required"))
            return
        columns = {name: value for name, value in record.items() if name not in RESULT_COLUMNS}
        batch = self.batches.setdefault(batch_id.strip(), _Batch(line, columns))
        if batch.line != line:
            self._agree(batch, line, columns)
        attribute = record.get("attribute")
        if not isinstance(attribute, str) or not attribute.strip():
            self.errors.append(RowError(line, "attribute", "is required (the attribute this row's result is for)"))
            return
        attribute = attribute.strip()
        if attribute in batch.lines:
            self.errors.append(RowError(line, "attribute", f"batch '{batch_id}' already has a {attribute} result "
                                                           f"on line {batch.lines[attribute]}"))
            return
        unit = record.get("unit")
        batch.lines[attribute] = line
        batch.results.append({"attribute": attribute,
                              "value": record.get("value") if record.get("value") not in (None, "")
                              else record.get("text"),
                              "unit": unit if isinstance(unit, str) and unit.strip() else None})

    def _agree(self, batch: _Batch, line: int, columns: Mapping[str, Any]) -> None:
        for name in sorted((set(batch.columns) | set(columns)) & KNOWN_COLUMNS):
            first = batch.columns.get(name)
            if _same(first, columns.get(name)):
                continue
            self.errors.append(RowError(line, name, f"the rows of batch '{columns.get('batch_id')}' disagree: "
                                                    f"{columns.get(name)!r} here, {first!r} on line {batch.line}"))

    def relocate(self, errors: Iterable[RowError]) -> list[RowError]:
        """The parse's problems on the original rows: a result's on its attribute's row, with this file's errors."""
        by_line = {batch.line: batch for batch in self.batches.values()}
        relocated = list(self.errors)
        for error in errors:
            batch = by_line.get(error.line)
            attribute = error.field.removeprefix("results/")
            if batch is not None and attribute in batch.lines:
                column = "unit" if error.message.startswith("unit ") else "attribute" \
                    if "is not an attribute" in error.message else "value"
                relocated.append(RowError(batch.lines[attribute], column, f"{attribute}: {error.message}"))
            else:
                relocated.append(error)
        return sorted(relocated, key=lambda e: (e.line, e.field))


def _same(first: Any, other: Any) -> bool:
    """Batch columns agree when equal after trimming (CSV cells) and an empty cell equals a missing one."""
    def norm(value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
        return None if value in ("", None) else value

    return bool(norm(first) == norm(other))
