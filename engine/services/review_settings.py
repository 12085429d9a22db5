"""The periodic review's configuration: cycle, baseline periods and thresholds, per product (OOS-20, OOS-21).

:func:`settings_from` reads a configuration document;
:func:`engine.services.periodic_review.load_settings` reads it from the
environment (README): ``OOSPATH_REVIEW_CONFIG`` names a JSON file with
``cycle``, ``baseline_periods`` (six-month periods before the review period
that form the comparator baseline and the control limits; default 3),
``thresholds`` (fields of :class:`~engine.domain.trends.Thresholds`) and
``products`` (per product code: ``baseline_periods``, ``thresholds``);
``OOSPATH_REVIEW_CYCLE`` overrides the cycle (``off``: the scheduler starts no
review).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.domain.trends import Thresholds, TrendError
from engine.services.errors import InvalidData
from engine.services.review_periods import cycle_anchor

DEFAULT_CYCLE = "R/2026-01-01T00:00:00Z/P6M"
DEFAULT_BASELINE_PERIODS = 3


@dataclass(frozen=True)
class ReviewSettings:
    """The review's configuration; see the module docstring and README."""

    cycle: str | None = DEFAULT_CYCLE
    baseline_periods: int = DEFAULT_BASELINE_PERIODS
    thresholds: Thresholds = field(default_factory=Thresholds)
    products: Mapping[str, tuple[Thresholds, int]] = field(default_factory=dict)

    def for_product(self, product_code: str) -> tuple[Thresholds, int]:
        return self.products.get(product_code, (self.thresholds, self.baseline_periods))


def _thresholds(data: Any, base: Thresholds, where: str) -> Thresholds:
    if not isinstance(data, dict):
        raise InvalidData(f"{where}: thresholds must be an object")
    known = {f.name for f in dataclasses.fields(Thresholds)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidData(f"{where}: unknown threshold(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values = {k: tuple(v) if k == "control_rules" else v for k, v in data.items()}
    try:
        return dataclasses.replace(base, **values)
    except (TrendError, TypeError) as exc:
        raise InvalidData(f"{where}: {exc}") from exc


def _baseline(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidData(f"{where}: baseline_periods must be a whole number ≥ 0")
    return value


def settings_from(data: Mapping[str, Any], cycle_override: str | None = None, where: str = "review config"
                  ) -> ReviewSettings:
    """Settings from a configuration document (the JSON file's content)."""
    unknown = sorted(set(data) - {"cycle", "baseline_periods", "thresholds", "products"})
    if unknown:
        raise InvalidData(f"{where}: unknown key(s) {', '.join(unknown)}")
    cycle = cycle_override if cycle_override is not None else data.get("cycle", DEFAULT_CYCLE)
    cycle = None if cycle in (None, "", "off") else str(cycle)
    if cycle is not None:
        cycle_anchor(cycle)
    thresholds = _thresholds(data.get("thresholds", {}), Thresholds(), f"{where} thresholds")
    baseline = _baseline(data.get("baseline_periods", DEFAULT_BASELINE_PERIODS), where)
    products: dict[str, tuple[Thresholds, int]] = {}
    for code, entry in (data.get("products") or {}).items():
        if not isinstance(entry, dict) or set(entry) - {"thresholds", "baseline_periods"}:
            raise InvalidData(f"{where} products.{code}: give 'thresholds' and/or 'baseline_periods'")
        products[code] = (_thresholds(entry.get("thresholds", {}), thresholds, f"{where} products.{code}"),
                          _baseline(entry.get("baseline_periods", baseline), f"{where} products.{code}"))
    return ReviewSettings(cycle, baseline, thresholds, products)


__all__ = ["DEFAULT_BASELINE_PERIODS", "DEFAULT_CYCLE", "ReviewSettings", "settings_from"]
