"""Reading a LIMS batch export (CSV, JSON, JSON Lines) into numbered records (OOS-20).

Each record comes with the line it starts on in the file, so every problem found later
names its line and field (:class:`RowError`). A file that cannot be read at all (not
UTF-8, not JSON, not an array) is refused as a whole with :class:`ImportRefused`, the
same refusal as for invalid rows: nothing is imported. The columns of a record and the
checks on them are in :mod:`engine.services.batch_rows`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.services.errors import ServiceError

Format = Literal["csv", "json", "jsonl"]
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
