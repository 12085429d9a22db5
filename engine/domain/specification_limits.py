"""Acceptance criteria of a release specification: the limit of one quality attribute (OOS-01).

A limit is either numeric bounds, kept as exact decimals built from the text of the
number given (so ``0.1`` is 0.1, and a result equal to a bound lands on the side the
specification says), or the accepted texts of a qualitative test, compared
case-insensitively after collapsing whitespace. How results are judged against these
limits is :func:`engine.domain.specifications.detect_oos`.

Pure Python: no I/O, no workflow engine, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

Number = Decimal | float | int


class SpecificationError(ValueError):
    """A specification or a set of results cannot be evaluated unambiguously.

    Raised instead of guessing (unit mismatch, duplicate results, wrong kind of
    result), because a guess could wrongly start or wrongly skip the pathway.
    """


def exact_decimal(value: Number, what: str) -> Decimal:
    """Exact decimal of a number as written, so 0.1 means 0.1 and not 0.1000000000000000055.

    ``bool`` is refused because ``True`` would otherwise silently compare as 1.
    NaN and infinity are refused because they cannot be inside or outside a limit.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | float | int):
        raise SpecificationError(f"{what} must be a number, got {value!r}")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation as exc:  # pragma: no cover - str() of a number always parses
        raise SpecificationError(f"{what} is not a number: {value!r}") from exc
    if not result.is_finite():
        raise SpecificationError(f"{what} must be a finite number, got {value!r}")
    return result


def format_number(value: Decimal) -> str:
    """Plain notation (never ``1E+2``) so limits and results read the same on every screen."""
    return f"{value:f}"


def normalise_text(text: str) -> str:
    """Case- and whitespace-insensitive form of a qualitative result."""
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class AttributeLimit:
    """Acceptance criterion of one quality attribute: numeric bounds or accepted results.

    Numeric bounds are stored as ``Decimal`` (converted from the text of the number
    given) so boundary comparisons are exact. Exactly one of the two forms is allowed,
    because an attribute judged both ways would have no single answer.
    """

    attribute: str
    unit: str | None = None
    lower: Number | None = None
    lower_inclusive: bool = True
    upper: Number | None = None
    upper_inclusive: bool = True
    accepted_results: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not self.attribute:
            raise SpecificationError("a limit needs an attribute name")
        if self.accepted_results is not None:
            self._check_qualitative()
        else:
            self._check_numeric()

    def _check_qualitative(self) -> None:
        if self.lower is not None or self.upper is not None:
            raise SpecificationError(f"{self.attribute}: a limit is either numeric or qualitative, not both")
        accepted = tuple(self.accepted_results or ())
        if not accepted or any(not normalise_text(text) for text in accepted):
            raise SpecificationError(f"{self.attribute}: accepted results must be non-empty texts")
        object.__setattr__(self, "accepted_results", accepted)

    def _check_numeric(self) -> None:
        if self.lower is None and self.upper is None:
            raise SpecificationError(
                f"{self.attribute}: a limit needs a lower bound, an upper bound or accepted results"
            )
        lower = None if self.lower is None else exact_decimal(self.lower, f"{self.attribute} lower limit")
        upper = None if self.upper is None else exact_decimal(self.upper, f"{self.attribute} upper limit")
        if lower is not None and upper is not None and lower > upper:
            raise SpecificationError(f"{self.attribute}: lower limit {lower} is above upper limit {upper}")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @property
    def is_qualitative(self) -> bool:
        """True when the attribute is judged by accepted result texts."""
        return self.accepted_results is not None

    def describe(self) -> str:
        """The limit as a physician reads it on the OOS information (OOS-04).

        Examples: ``≥ 80 %``, ``< 5.0 EU/mL``, ``0.6 to 6.0 x10^8 cells``, ``no growth``.
        """
        if self.accepted_results is not None:
            return " or ".join(self.accepted_results)
        return self._with_unit(self._describe_bounds())

    def _describe_bounds(self) -> str:
        lower_op = "≥" if self.lower_inclusive else ">"
        upper_op = "≤" if self.upper_inclusive else "<"
        lower = None if self.lower is None else format_number(Decimal(self.lower))
        upper = None if self.upper is None else format_number(Decimal(self.upper))
        if lower is not None and upper is not None:
            if self.lower_inclusive and self.upper_inclusive:
                return f"{lower} to {upper}"
            return f"{lower_op} {lower} and {upper_op} {upper}"
        if lower is not None:
            return f"{lower_op} {lower}"
        return f"{upper_op} {upper}"

    def _with_unit(self, text: str) -> str:
        return f"{text} {self.unit}" if self.unit else text



__all__ = [
    "AttributeLimit",
    "Number",
    "SpecificationError",
    "exact_decimal",
    "format_number",
    "normalise_text",
]
