"""Specifications, batch test results and OOS detection (OOS-01, OOS-02).

This module decides whether a batch enters the exceptional-use pathway at all, so
its rules are deliberately strict and explicit:

* Numeric limits are compared as exact decimals built from the *reported* text of
  a number (``Decimal(str(x))``), never as binary floats, so a result of exactly
  the limit lands on the side the specification says (inclusive or exclusive).
  Values are compared as reported: this module never rounds. Rounding to the
  reporting precision of the method is the laboratory's job and must happen
  before the result is entered; an unrounded value is shown in full in the
  finding so nobody is misled about why it failed.
* Units must match exactly (case-sensitive). A result in another unit is a data
  error, not a pass or a fail: converting silently could turn an OOS result into
  an in-specification one.
* Qualitative results ("no growth", "not detected") are compared
  case-insensitively after collapsing whitespace, because laboratory systems
  differ in capitalisation and spacing, not in meaning.
* A required attribute without a result is reported as a finding with reason
  ``no result reported``: a batch cannot be shown to meet its specification
  without every result, so it must never be treated as passing by omission. A
  missing result alone does not make a batch eligible for this pathway (see
  :func:`check_case_eligibility`).
* Results for attributes the specification does not list are ignored: they are
  in-process or characterisation tests with no release limit.

The limit of one attribute (exact decimal bounds, accepted result texts) is
:mod:`engine.domain.specification_limits`.

Pure Python: no I/O, no workflow engine, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from engine.domain.specification_limits import (
    AttributeLimit,
    Number,
    SpecificationError,
    exact_decimal,
    format_number,
    normalise_text,
)


class CaseNotEligible(Exception):
    """The batch does not qualify for the exceptional-use pathway.

    ``requirement`` names the rule that refused it so the API and the audit trail
    can cite it.
    """

    def __init__(self, message: str, *, requirement: str) -> None:
        super().__init__(message)
        self.requirement = requirement


class ProductKind(StrEnum):
    """Regulatory status; decides who is notified (OOS-11 sponsor vs OOS-12 MAH)."""

    AUTHORISED = "authorised"
    INVESTIGATIONAL = "investigational"


class OosReason(StrEnum):
    """Why an attribute is a finding; a closed set so trends can be categorised (OOS-21)."""

    BELOW_LOWER_LIMIT = "below lower limit"
    ABOVE_UPPER_LIMIT = "above upper limit"
    RESULT_NOT_ACCEPTED = "result not accepted"
    NO_RESULT = "no result reported"


@dataclass(frozen=True)
class Product:
    """A medicinal product; ``cell_tissue_based`` gates the pathway (OOS-02)."""

    code: str
    name: str
    kind: ProductKind
    cell_tissue_based: bool
    atmp_class: str


def _require_aware(moment: datetime, what: str) -> None:
    """Naive datetimes are refused: 'in force at' is meaningless without a time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SpecificationError(f"{what} must be timezone-aware (UTC), got naive {moment.isoformat()}")


@dataclass(frozen=True)
class Specification:
    """One approved version of a product's release specification (OOS-01: versioned)."""

    product_code: str
    version: int
    effective_from: datetime
    limits: tuple[AttributeLimit, ...]

    def __post_init__(self) -> None:
        _require_aware(self.effective_from, f"{self.product_code} v{self.version} effective_from")
        if self.version < 1:
            raise SpecificationError(f"{self.product_code}: specification versions start at 1")
        names = [limit.attribute for limit in self.limits]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise SpecificationError(
                f"{self.product_code} v{self.version}: attribute(s) listed twice: {', '.join(duplicates)}"
            )
        if not self.limits:
            raise SpecificationError(f"{self.product_code} v{self.version}: a specification needs limits")
        object.__setattr__(self, "limits", tuple(self.limits))

    def limit_for(self, attribute: str) -> AttributeLimit:
        """The limit of one attribute; KeyError if the specification does not list it."""
        for limit in self.limits:
            if limit.attribute == attribute:
                return limit
        raise KeyError(attribute)


def specification_in_force(
    specs: Iterable[Specification], at: datetime, *, product_code: str | None = None
) -> Specification:
    """The version with the latest ``effective_from`` not after ``at`` (OOS-01).

    Several products in ``specs`` without ``product_code``, or two versions
    effective at the same instant, are refused rather than resolved arbitrarily.
    """
    _require_aware(at, "the date to check against")
    candidates = [s for s in specs if product_code is None or s.product_code == product_code]
    codes = {s.product_code for s in candidates}
    if len(codes) > 1:
        raise SpecificationError(f"specifications of several products given ({', '.join(sorted(codes))})")
    in_force = [s for s in candidates if s.effective_from <= at]
    if not in_force:
        label = product_code or next(iter(codes), "the product")
        raise SpecificationError(f"no specification of {label} is in force at {at.isoformat()}")
    latest = max(in_force, key=lambda s: s.effective_from)
    ties = [s for s in in_force if s.effective_from == latest.effective_from]
    if len(ties) > 1:
        versions = ", ".join(f"v{s.version}" for s in ties)
        raise SpecificationError(f"{latest.product_code}: {versions} take effect at the same time")
    return latest


@dataclass(frozen=True)
class TestResult:
    """One reported release test result: numeric ``value`` or qualitative ``text``."""

    __test__ = False  # not a pytest test class despite the name

    attribute: str
    value: Number | None = None
    text: str | None = None
    unit: str | None = None

    @property
    def is_empty(self) -> bool:
        """A result row with neither value nor text is no result at all."""
        return self.value is None and (self.text is None or not self.text.strip())


@dataclass(frozen=True)
class BatchRecord:
    """A patient-specific batch with its parties and release results.

    The parties matter downstream: ``importer`` is set only for imported batches
    (OOS-09), ``mah`` only for authorised products (OOS-12), ``sponsor`` only for
    investigational ones (OOS-11), and distinct legal entities require a written
    agreement (OOS-15).
    """

    batch_id: str
    product_code: str
    manufactured_at: datetime
    imported: bool
    manufacturer: str
    importer: str | None
    mah: str | None
    treating_site: str
    treating_country: str
    results: tuple[TestResult, ...]
    sponsor: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.manufactured_at, f"batch {self.batch_id} manufactured_at")
        if self.imported and not self.importer:
            raise SpecificationError(f"batch {self.batch_id} is imported but names no importer")
        object.__setattr__(self, "results", tuple(self.results))

    @property
    def legal_entities(self) -> frozenset[str]:
        """The distinct companies among manufacturer, importer and MAH (OOS-15)."""
        return frozenset(p for p in (self.manufacturer, self.importer, self.mah) if p)

    @property
    def needs_written_agreement(self) -> bool:
        """True when more than one legal entity shares the communication duties (OOS-15)."""
        return len(self.legal_entities) > 1


@dataclass(frozen=True)
class OosFinding:
    """One attribute that keeps the batch from meeting its specification (OOS-01, OOS-04).

    ``measured`` and ``limit`` are display texts so the physician sees exactly what
    was reported and what was required.
    """

    attribute: str
    measured: str
    limit: str
    unit: str | None
    reason: OosReason

    @property
    def is_out_of_limits(self) -> bool:
        """True for a reported result outside its limit, False for a missing result."""
        return self.reason is not OosReason.NO_RESULT

    def as_dict(self) -> dict[str, str | None]:
        """Plain data for process variables, API payloads and the physician information."""
        return {
            "attribute": self.attribute,
            "measured": self.measured,
            "limit": self.limit,
            "unit": self.unit,
            "reason": str(self.reason),
        }


def _index_results(results: Iterable[TestResult]) -> dict[str, TestResult]:
    """Results by attribute; a second result for the same attribute is refused as ambiguous."""
    indexed: dict[str, TestResult] = {}
    for result in results:
        if result.attribute in indexed:
            raise SpecificationError(
                f"two results reported for '{result.attribute}': report one final result per attribute"
            )
        indexed[result.attribute] = result
    return indexed


def _check_unit(limit: AttributeLimit, result: TestResult) -> None:
    """Exact unit match or an error: comparing across units could hide an OOS result."""
    if result.unit != limit.unit:
        raise SpecificationError(
            f"unit mismatch for '{limit.attribute}': result reported in {result.unit!r} but the "
            f"specification is in {limit.unit!r}; report the result in {limit.unit!r} "
            "(units are matched exactly and never converted)"
        )


def _numeric_finding(limit: AttributeLimit, result: TestResult) -> OosFinding | None:
    if result.value is None:
        raise SpecificationError(
            f"'{limit.attribute}' has a numeric limit ({limit.describe()}) but the result "
            f"is text only ({result.text!r})"
        )
    measured = exact_decimal(result.value, f"result of '{limit.attribute}'")
    reason = _bound_violation(limit, measured)
    if reason is None:
        return None
    return OosFinding(limit.attribute, format_number(measured), limit.describe(), limit.unit, reason)


def _bound_violation(limit: AttributeLimit, measured: Decimal) -> OosReason | None:
    """Which bound, if any, ``measured`` violates; equality passes only an inclusive bound."""
    lower, upper = limit.lower, limit.upper
    if lower is not None and (measured < lower or (measured == lower and not limit.lower_inclusive)):
        return OosReason.BELOW_LOWER_LIMIT
    if upper is not None and (measured > upper or (measured == upper and not limit.upper_inclusive)):
        return OosReason.ABOVE_UPPER_LIMIT
    return None


def _qualitative_finding(limit: AttributeLimit, result: TestResult) -> OosFinding | None:
    if result.text is None:
        raise SpecificationError(
            f"'{limit.attribute}' is judged by result text ({limit.describe()}) but the result "
            f"is a number ({result.value!r})"
        )
    accepted = {normalise_text(text) for text in limit.accepted_results or ()}
    if normalise_text(result.text) in accepted:
        return None
    measured = " ".join(result.text.split())
    return OosFinding(limit.attribute, measured, limit.describe(), limit.unit, OosReason.RESULT_NOT_ACCEPTED)


def _finding_for(limit: AttributeLimit, result: TestResult | None) -> OosFinding | None:
    if result is None or result.is_empty:
        return OosFinding(limit.attribute, "no result", limit.describe(), limit.unit, OosReason.NO_RESULT)
    _check_unit(limit, result)
    if limit.is_qualitative:
        return _qualitative_finding(limit, result)
    return _numeric_finding(limit, result)


def detect_oos(results: Iterable[TestResult], spec: Specification) -> list[OosFinding]:
    """Every attribute of ``spec`` the results fail to meet, in specification order (OOS-01).

    An empty list means the batch is within specification. Results for attributes the
    specification does not list are ignored. See the module docstring for units,
    missing results and exact boundaries.
    """
    indexed = _index_results(results)
    findings = (_finding_for(limit, indexed.get(limit.attribute)) for limit in spec.limits)
    return [finding for finding in findings if finding is not None]


def check_case_eligibility(
    product: Product, findings: Sequence[OosFinding], *, batch_id: str | None = None
) -> None:
    """Refuse a case the exceptional-use pathway does not cover; return None if it may start.

    OOS-02 is checked first: a product that is not cell/tissue-based is never
    eligible, whatever its results. OOS-01: a batch within specification must go
    through normal release, and a batch whose only findings are missing results
    must complete its testing first, since no *result* is outside the specification.
    """
    batch = f"batch {batch_id}" if batch_id else "the batch"
    if not product.cell_tissue_based:
        raise CaseNotEligible(
            f"{product.name} ({product.code}) is not a cell/tissue-based ATMP: "
            "the exceptional-use pathway for OOS batches does not apply",
            requirement="OOS-02",
        )
    if not findings:
        raise CaseNotEligible(
            f"{batch} is within specification: the exceptional-use pathway does not apply",
            requirement="OOS-01",
        )
    if not any(finding.is_out_of_limits for finding in findings):
        missing = ", ".join(finding.attribute for finding in findings)
        raise CaseNotEligible(
            f"{batch} has no result outside specification, only missing results ({missing}): "
            "complete the testing before considering the exceptional-use pathway",
            requirement="OOS-01",
        )


# AttributeLimit and SpecificationError are defined in engine.domain.specification_limits; a specification is
# made of the one and raises the other, and some callers import them from here.
__all__ = [
    "AttributeLimit",
    "BatchRecord",
    "CaseNotEligible",
    "OosFinding",
    "OosReason",
    "Product",
    "ProductKind",
    "Specification",
    "SpecificationError",
    "TestResult",
    "check_case_eligibility",
    "detect_oos",
    "specification_in_force",
]
