"""Recurring OOS outcomes and how OOS cases are categorised (OOS-21 repeatability, OOS-23 escalation).

* **Repeat failures**: the same attribute failing in at least
  ``repeat_failures`` OOS batches of the current period, and the same attribute
  failing in each of the last ``repeat_consecutive_periods`` periods (ending
  with the current one). These are not chance events of a statistical test:
  OOS-23 escalates recurring OOS outcomes as such.
* **Categories**: OOS batches counted by (type, attribute, severity) and
  period, once per batch and category, split by administration.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from engine.domain.batch_outcomes import BatchOutcome, OosCategory, Period, in_decision_order, period_of


@dataclass(frozen=True)
class RepeatFailure:
    """The same attribute failing repeatedly (OOS-21 repeatability, OOS-23 recurring OOS).

    ``scope`` is ``within_period`` (≥ threshold OOS batches in the current period)
    or ``consecutive_periods`` (at least one in each of the last periods named).
    """

    attribute: str
    scope: Literal["within_period", "consecutive_periods"]
    periods: tuple[Period, ...]
    count: int
    batch_ids: tuple[str, ...]


def repeat_failures(
    batches: Iterable[BatchOutcome], periods: Sequence[Period], *, threshold: int = 2, consecutive: int = 2
) -> list[RepeatFailure]:
    """Attributes failing ≥ ``threshold`` times in the last period, or in each of the last ``consecutive`` periods."""
    if not periods:
        return []
    ordered = sorted(periods, key=lambda p: p.start)
    oos = [b for b in in_decision_order(batches) if b.is_oos]

    def failures(attribute: str, period: Period) -> list[str]:
        return [b.batch_id for b in oos if period.contains(b.decided_at) and attribute in b.failed_attributes]

    current = ordered[-1]
    attributes = sorted({a for b in oos for a in b.failed_attributes})
    found: list[RepeatFailure] = []
    for attribute in attributes:
        ids = failures(attribute, current)
        if len(ids) >= threshold:
            found.append(RepeatFailure(attribute, "within_period", (current,), len(ids), tuple(ids)))
    if consecutive >= 1 and len(ordered) >= consecutive:
        recent = ordered[-consecutive:]
        contiguous = all(a.end == b.start for a, b in itertools.pairwise(recent))
        for attribute in attributes if contiguous else []:
            per_period = [failures(attribute, period) for period in recent]
            if all(per_period):
                ids = tuple(i for group in per_period for i in group)
                found.append(RepeatFailure(attribute, "consecutive_periods", tuple(recent), len(ids), ids))
    return found


@dataclass(frozen=True)
class CategoryCount:
    """OOS batches in one period with one (type, attribute, severity) category, split by administration."""

    period: Period
    category: OosCategory
    administered: int
    not_administered: int

    @property
    def total(self) -> int:
        return self.administered + self.not_administered


def categorise(batches: Iterable[BatchOutcome], periods: Sequence[Period]) -> list[CategoryCount]:
    """OOS cases counted by category and period (OOS-21: how cases are categorised), once per batch and category."""
    tally: Counter[tuple[Period, OosCategory, str]] = Counter()
    for batch in batches:
        period = period_of(batch.decided_at, periods)
        if period is None or not batch.is_oos:
            continue
        for category in set(batch.oos_categories):
            tally[(period, category, batch.status)] += 1
    keys = sorted({(p, c) for p, c, _ in tally}, key=lambda key: (key[0].start, key[1]))
    return [
        CategoryCount(p, c, tally[(p, c, "oos_administered")], tally[(p, c, "oos_not_administered")]) for p, c in keys
    ]


__all__ = ["CategoryCount", "RepeatFailure", "categorise", "repeat_failures"]
