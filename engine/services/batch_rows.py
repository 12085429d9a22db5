"""The columns of one batch of a LIMS export and their checks against the specification (OOS-20, OOS-21).

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

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.domain.specification_limits import SpecificationError
from engine.domain.specifications import Specification, TestResult, detect_oos, specification_in_force
from engine.domain.trends import STATUSES
from engine.services.batch_file import RowError

SEVERITIES = ("minor", "major", "critical", "unclassified")
KNOWN_COLUMNS = {"batch_id", "product_code", "decided_at", "decided_at_utc", "status", "manufactured_at",
                 "manufacturer", "treating_site", "treating_country", "period", "oos_categories"}
NOT_REPORTED = "not reported"


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


class RowChecker:
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
