"""OOS rates of a review period, their exact intervals and the test for an increase (OOS-20, OOS-23).

Statistical choices (each one is what a reviewer would otherwise have to ask):

* **OOS rate** = OOS batches / (OOS batches + batches released to
  specification): the share of all batches decided in the period that were OOS,
  whether administered or not. **Administered-OOS rate** = OOS batches
  administered / (OOS batches administered + batches released): the share of
  product that reached patients in the period that was OOS, which is the
  comparison OOS-20 asks for.
* **Confidence interval of a rate**: Clopper–Pearson ("exact"), from its
  closed form in beta quantiles (``scipy.special.betaincinv``), the interval
  ``scipy.stats.binomtest(...).proportion_ci(method="exact")`` finds by root
  search. It never
  undercovers, and stays meaningful for the small counts and near-zero rates
  typical of OOS data, where the normal approximation breaks down.
* **Has the OOS rate increased?** Fisher's exact test on the 2×2 table
  (OOS, released) × (current period, baseline periods pooled). The signal uses
  the one-sided p-value (alternative ``"greater"``): OOS-23 escalates an
  *increase*; a falling rate opens no CAPA. The two-sided p-value is reported
  beside it for information.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from scipy import special, stats

from engine.domain.batch_outcomes import STATUSES, BatchOutcome, Period, TrendError


def clopper_pearson(successes: int, trials: int, confidence_level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) confidence interval of a binomial proportion; see the module docstring."""
    if trials < 1 or not 0 <= successes <= trials:
        raise TrendError(f"cannot estimate a rate from {successes} of {trials}")
    tail = (1 - confidence_level) / 2
    low = 0.0 if successes == 0 else float(special.betaincinv(successes, trials - successes + 1, tail))
    high = 1.0 if successes == trials else float(special.betaincinv(successes + 1, trials - successes, 1 - tail))
    return low, high


@dataclass(frozen=True)
class PeriodCounts:
    """Batches decided in one period for one product, and the rates of OOS-20 (definitions in the module docstring)."""

    period: Period
    product_code: str
    released: int
    oos_administered: int
    oos_not_administered: int
    oos_rate_ci: tuple[float, float] | None = None
    administered_oos_rate_ci: tuple[float, float] | None = None

    @property
    def oos(self) -> int:
        """OOS batches, administered or not."""
        return self.oos_administered + self.oos_not_administered

    @property
    def total(self) -> int:
        """Every batch decided in the period."""
        return self.released + self.oos

    @property
    def oos_rate(self) -> float | None:
        """OOS / (OOS + released); None for a period without batches."""
        return self.oos / self.total if self.total else None

    @property
    def administered_oos_rate(self) -> float | None:
        """OOS administered / (OOS administered + released); None when nothing was administered."""
        denominator = self.oos_administered + self.released
        return self.oos_administered / denominator if denominator else None


def count_period(
    batches: Iterable[BatchOutcome], period: Period, product_code: str, *, confidence_level: float = 0.95
) -> PeriodCounts:
    """Counts of one product's batches decided in ``period``, with Clopper–Pearson intervals of both rates."""
    tally = Counter(b.status for b in batches if b.product_code == product_code and period.contains(b.decided_at))
    return counts_of(period, product_code, *(tally[s] for s in STATUSES), confidence_level=confidence_level)


def counts_of(period: Period, product_code: str, released: int, administered: int, not_administered: int, *,
              confidence_level: float = 0.95) -> PeriodCounts:
    """A period's counts by outcome with Clopper–Pearson intervals of the OOS and administered-OOS rates."""
    total = released + administered + not_administered
    rate_ci = clopper_pearson(administered + not_administered, total, confidence_level) if total else None
    administered_total = administered + released
    administered_ci = (
        clopper_pearson(administered, administered_total, confidence_level) if administered_total else None
    )
    return PeriodCounts(period, product_code, released, administered, not_administered, rate_ci, administered_ci)


@dataclass(frozen=True)
class RateComparison:
    """Current period's OOS rate against the baseline periods pooled (Fisher's exact test).

    ``odds_ratio`` is the sample odds ratio, None when a zero cell makes it
    undefined or infinite. ``p_value_greater`` is the one-sided p-value for "the
    current rate is higher" and decides the signal; ``p_value_two_sided`` is shown
    for information.
    """

    current_oos: int
    current_total: int
    baseline_oos: int
    baseline_total: int
    odds_ratio: float | None
    p_value_greater: float
    p_value_two_sided: float

    @property
    def current_rate(self) -> float:
        return self.current_oos / self.current_total

    @property
    def baseline_rate(self) -> float:
        return self.baseline_oos / self.baseline_total


def compare_rates(current_oos: int, current_total: int, baseline_oos: int, baseline_total: int) -> RateComparison:
    """Fisher's exact test of the 2×2 table [[current OOS, current released], [baseline OOS, baseline released]]."""
    if current_total < 1 or baseline_total < 1:
        raise TrendError("a rate comparison needs batches in both the current period and the baseline")
    if not (0 <= current_oos <= current_total and 0 <= baseline_oos <= baseline_total):
        raise TrendError("OOS counts must lie between 0 and the number of batches")
    table = [[current_oos, current_total - current_oos], [baseline_oos, baseline_total - baseline_oos]]
    odds_ratio, p_greater = stats.fisher_exact(table, alternative="greater")
    _, p_two_sided = stats.fisher_exact(table, alternative="two-sided")
    odds = float(odds_ratio)
    return RateComparison(
        current_oos,
        current_total,
        baseline_oos,
        baseline_total,
        odds if math.isfinite(odds) else None,
        float(p_greater),
        float(p_two_sided),
    )


__all__ = ["PeriodCounts", "RateComparison", "clopper_pearson", "compare_rates", "count_period", "counts_of"]
