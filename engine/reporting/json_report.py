"""The periodic review as JSON, written as it is produced (OOS-20, OOS-21).

Why this exists: the JSON rendering is the machine-readable copy of the report
and must be exact (it reads back to the same :class:`PeriodicReport`), but a
review of one product with 200,000 batches in its periods has about a million
chart points: built as one document in memory it took gigabytes. So:

* :func:`write_json` writes the document to a binary stream piece by piece,
  compact (no indentation) with sorted keys; each chart's points are held as
  columns (:class:`ChartSeries`: batch ids, decision times in UTC, values,
  index of the first current-period point). Only one chart's columns are ever
  turned into text at a time; a chart of the same batches as the one before
  reuses the text of their ids and decision times.
* :func:`render_json` is the same document as a string, for small reports.
* :func:`report_from_json` reads format version 2 and the earlier version 1,
  whose charts listed their points as objects.
"""

from __future__ import annotations

import dataclasses
import io
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass
from datetime import datetime
from typing import Any, BinaryIO

import numpy as np

from engine.domain.trends import (
    Capability,
    ChartSeries,
    ControlChart,
    OosCategory,
    Period,
    PeriodCounts,
    RateComparison,
    TrendError,
)
from engine.reporting.periodic import PeriodicReport

JSON_FORMAT = "oospath-periodic-review"
JSON_FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: Text is handed to the stream in pieces of about this many characters.
FLUSH_CHARACTERS = 1 << 20

#: Read-only properties written beside the fields so JSON readers need not recompute them (ignored on reading).
_DERIVED: Mapping[type, tuple[str, ...]] = {
    Period: ("label",),
    PeriodCounts: ("oos", "total", "oos_rate", "administered_oos_rate"),
    RateComparison: ("current_rate", "baseline_rate"),
    Capability: ("near_limit_share",),
}


class _Columns:
    """A chart series, turned into text only when the writer reaches it."""

    def __init__(self, series: ChartSeries) -> None:
        self.series = series


class _Nested(dict):  # type: ignore[type-arg]
    """An encoded object holding chart columns somewhere inside: written item by item."""


class _NestedList(list):  # type: ignore[type-arg]
    """An encoded list holding chart columns somewhere inside: written item by item."""


_LEAVES = (str, int, float, bool, type(None))
#: The exact types of most leaves: checked by a set lookup before the ``isinstance`` chain (a million values).
_LEAF_TYPES = frozenset(_LEAVES)
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """The fields written for a dataclass type (its own and :data:`_DERIVED`); None for any other type."""
    if kind not in _FIELD_NAMES:
        _FIELD_NAMES[kind] = (tuple(f.name for f in fields(kind)) + _DERIVED.get(kind, ())
                              if is_dataclass(kind) else None)
    return _FIELD_NAMES[kind]


def _streamed(value: Any) -> bool:
    return isinstance(value, _Columns | _Nested | _NestedList)


def _encode(value: Any) -> Any:
    """Plain JSON data, except chart series (kept as :class:`_Columns`) and the containers around them."""
    kind = type(value)
    if kind in _LEAF_TYPES or isinstance(value, _LEAVES):
        return value
    if isinstance(value, ChartSeries):
        return _Columns(value)
    names = _field_names(kind)
    if names is not None:
        encoded, streamed = {}, False
        for name in names:
            item = getattr(value, name)
            if type(item) not in _LEAF_TYPES:
                item = _encode(item)
                streamed = streamed or _streamed(item)
            encoded[name] = item
        return _Nested(encoded) if streamed else encoded
    if isinstance(value, OosCategory):
        return {name: getattr(value, name) for name in OosCategory._fields}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _encode(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        items, streamed = [], False
        for item in value:
            if type(item) not in _LEAF_TYPES:
                item = _encode(item)
                streamed = streamed or _streamed(item)
            items.append(item)
        return _NestedList(items) if streamed else items
    return value


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class _SeriesText:
    """Chart series as JSON text, one at a time. The charts of one review mostly list the same released batches
    (each is tested for every attribute): a series with the previous one's batch ids and decision times reuses
    the text of those two columns instead of turning 200,000 of each into text again."""

    SHARED = ("batch_ids", "decided_at")

    def __init__(self) -> None:
        self._previous: ChartSeries | None = None
        self._shared: dict[str, str] = {}

    def text(self, series: ChartSeries) -> str:
        previous = self._previous
        if (previous is not None and previous.batch_ids == series.batch_ids
                and np.array_equal(previous.decided_at, series.decided_at)):
            rest = dataclasses.replace(series, batch_ids=(), decided_at=series.decided_at[:0]).to_columns()
            texts = {key: self._shared[key] if key in self.SHARED else _compact(column) for key, column in rest.items()}
        else:
            texts = {key: _compact(column) for key, column in series.to_columns().items()}
            self._previous, self._shared = series, {key: texts[key] for key in self.SHARED}
        return "{" + ",".join(f"{_compact(key)}:{texts[key]}" for key in sorted(texts)) + "}"


def _write(value: Any, write: Callable[[str], None], series: _SeriesText) -> None:
    """``value`` as compact JSON with sorted keys; containers of chart columns are written piece by piece."""
    if isinstance(value, _Columns):
        write(series.text(value.series))
    elif isinstance(value, _Nested):
        write("{")
        for position, key in enumerate(sorted(value)):
            write(("," if position else "") + _compact(key) + ":")
            _write(value[key], write, series)
        write("}")
    elif isinstance(value, _NestedList):
        write("[")
        for position, item in enumerate(value):
            if position:
                write(",")
            _write(item, write, series)
        write("]")
    else:
        write(_compact(value))


def report_to_dict(report: PeriodicReport) -> dict[str, Any]:
    """The report as plain JSON-ready data, with a format marker and version."""
    return typing.cast(dict[str, Any], json.loads(render_json(report)))


def write_json(report: PeriodicReport, out: BinaryIO) -> int:
    """Write the report as UTF-8 JSON to ``out`` piece by piece; returns the bytes written."""
    pending: list[str] = []
    size = [0, 0]  # characters pending, bytes written

    def flush() -> None:
        data = "".join(pending).encode("utf-8")
        out.write(data)
        size[1] += len(data)
        pending.clear()
        size[0] = 0

    def write(text: str) -> None:
        pending.append(text)
        size[0] += len(text)
        if size[0] >= FLUSH_CHARACTERS:
            flush()

    document = _Nested({"format": JSON_FORMAT, "format_version": JSON_FORMAT_VERSION, "report": _encode(report)})
    _write(document, write, _SeriesText())
    flush()
    return size[1]


def render_json(report: PeriodicReport) -> str:
    """The report as JSON text (sorted keys, NaN refused); :func:`report_from_json` reads it back."""
    buffer = io.BytesIO()
    write_json(report, buffer)
    return buffer.getvalue().decode("utf-8")


def _series_of_points(points: list[dict[str, Any]]) -> ChartSeries:
    """A version 1 chart's point objects as a series."""
    first_current = next((i for i, p in enumerate(points) if p["in_current"]), len(points))
    return ChartSeries.of([p["batch_id"] for p in points], [datetime.fromisoformat(p["decided_at"]) for p in points],
                          [p["value"] for p in points], first_current)


def _decode(kind: Any, data: Any) -> Any:
    """Rebuild a value of type ``kind`` from :func:`_encode` output, guided by the dataclasses' type hints."""
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        if data is None:
            return None
        (inner,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return _decode(inner, data)
    if origin is typing.Literal:
        return data
    if origin is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item) for item in data)
        return tuple(_decode(arg, item) for arg, item in zip(args, data, strict=True))
    if origin in (Mapping, dict, typing.Mapping):
        _, value_kind = typing.get_args(kind)
        return {key: _decode(value_kind, item) for key, item in data.items()}
    if kind is OosCategory:
        return OosCategory(**data)
    if kind is ChartSeries:
        return ChartSeries.from_columns(data)
    if kind is ControlChart and "points" in data:  # format version 1
        data = {**data, "series": None}
        series = _series_of_points(data.pop("points"))
        return ControlChart(**{**_decode_fields(kind, data, skip={"series"}), "series": series})
    if isinstance(kind, type) and is_dataclass(kind):
        return kind(**_decode_fields(kind, data))
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is float:
        return float(data)
    return data


def _decode_fields(kind: type, data: Mapping[str, Any], skip: frozenset[str] | set[str] = frozenset()
                   ) -> dict[str, Any]:
    hints = typing.get_type_hints(kind)
    return {f.name: _decode(hints[f.name], data[f.name]) for f in fields(kind) if f.init and f.name not in skip}


def report_from_json(text: str | bytes) -> PeriodicReport:
    """A :class:`PeriodicReport` from :func:`write_json` output; other formats or versions are refused."""
    document = json.loads(text)
    if document.get("format") != JSON_FORMAT or document.get("format_version") not in READABLE_VERSIONS:
        raise TrendError(f"not an {JSON_FORMAT} v{JSON_FORMAT_VERSION} document")
    return typing.cast(PeriodicReport, _decode(PeriodicReport, document["report"]))


__all__ = [
    "JSON_FORMAT",
    "JSON_FORMAT_VERSION",
    "render_json",
    "report_from_json",
    "report_to_dict",
    "write_json",
]
