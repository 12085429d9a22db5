"""The NCA notification rule of one treating-site country, and the NCA's recorded answer (OOS-14).

The types the register (:mod:`engine.domain.nca_register`) is made of and the rules
(:mod:`engine.domain.authorities`) work on: the EU/EEA country codes, the national
overlay (when the notification clock starts, the period, attachments), the recorded
answer of an NCA and the requirement of one country. Pure Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

DEFAULT_PERIOD = "PT48H"

EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
})
EEA_EFTA_COUNTRIES = frozenset({"IS", "LI", "NO"})
REGISTER_COUNTRIES = EU_COUNTRIES | EEA_EFTA_COUNTRIES
COUNTRY_ALIASES = {"EL": "GR"}  # EU institutions' code for Greece

_HOURS = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


class UnknownCountryError(ValueError):
    """A treating-site country that is not in the EU/EEA register (never read as "no NCA")."""

    def __init__(self, country: str) -> None:
        super().__init__(
            f"{country!r} is not an EU/EEA country code of the NCA register (ISO 3166-1 alpha-2, e.g. DE, FR, CZ): "
            "the exceptional-use pathway covers treating sites in the EU/EEA only (OOS-14)"
        )
        self.country = country
        self.requirement = "OOS-14"


class ClockStart(StrEnum):
    """The event that starts the NCA notification period."""

    SUPPLY = "supply"
    DELIVERY_TO_SITE = "delivery_to_site"


def parse_period(period: str) -> timedelta:
    """An ISO 8601 duration of days/hours/minutes (``PT48H``, ``P2D``) as a timedelta.

    Only the units a notification period uses; months and years have no fixed length
    and are refused rather than approximated.
    """
    match = _HOURS.match(period)
    if not match or period in {"P", "PT"} or period.endswith("T"):
        raise ValueError(f"period {period!r} is not an ISO 8601 duration in days/hours/minutes (e.g. PT48H)")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    result = timedelta(days=days, hours=hours, minutes=minutes)
    if result <= timedelta(0):
        raise ValueError(f"period {period!r} must be longer than zero")
    return result


@dataclass(frozen=True)
class NationalOverlay:
    """National specifics on top of the EU pathway for one country.

    ``product_scope`` empty means "as the EU pathway" (authorised products); a country
    may extend it (e.g. ``("authorised", "unauthorised")``). ``attachments`` names the
    case records that must go with the notification (e.g. ``risk_analysis``).
    """

    summary: str
    clock_starts_at: ClockStart = ClockStart.SUPPLY
    period: str = DEFAULT_PERIOD
    report_even_if_not_administered: bool = False
    attachments: tuple[str, ...] = ()
    product_scope: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "clock_starts_at", ClockStart(self.clock_starts_at))
        object.__setattr__(self, "attachments", tuple(self.attachments))
        object.__setattr__(self, "product_scope", tuple(self.product_scope))
        parse_period(self.period)


@dataclass(frozen=True)
class NationalAnswer:
    """What an NCA answered to "must you be informed?", as recorded on a case (OOS-14).

    ``reference`` points at the evidence (e-mail, letter, portal receipt) so the answer
    can be shown to an inspector; ``recorded_at`` must be timezone-aware.
    """

    country: str
    must_be_informed: bool
    answered_by: str
    recorded_by: str
    recorded_at: datetime
    reference: str
    overlay: NationalOverlay | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.must_be_informed, bool):
            raise ValueError("an NCA answer is yes or no: must_be_informed must be True or False")
        if self.recorded_at.tzinfo is None or self.recorded_at.utcoffset() is None:
            raise ValueError("recorded_at must be timezone-aware")
        for name in ("answered_by", "recorded_by", "reference"):
            if not str(getattr(self, name)).strip():
                raise ValueError(f"an NCA answer needs {name} (who answered, who recorded it, and the evidence)")
        object.__setattr__(self, "country", normalise_country(self.country))


@dataclass(frozen=True)
class NationalRequirement:
    """The NCA notification rule for one treating-site country.

    ``must_be_informed`` is ``True`` (inform), ``False`` (confirmed not required) or
    ``None`` (not confirmed: ``needs_confirmation`` is then True and the case must ask).
    Callers that only test truthiness therefore never notify on an unconfirmed row; they
    must check ``needs_confirmation`` to start the confirmation task.
    """

    country: str
    authority: str
    must_be_informed: bool | None
    source: str
    as_of: date | None = None
    name: str = ""
    overlay: NationalOverlay | None = None
    note: str | None = None
    patient_information_language: str | None = None
    answer: NationalAnswer | None = None

    @property
    def needs_confirmation(self) -> bool:
        """True while nobody has confirmed whether this NCA must be informed."""
        return self.must_be_informed is None

    @property
    def clock_starts_at(self) -> ClockStart:
        """Event starting the notification period: supply unless a national overlay says otherwise."""
        return self.overlay.clock_starts_at if self.overlay else ClockStart.SUPPLY

    @property
    def period(self) -> str:
        """ISO 8601 notification period; the EU default is the Supervisory Authority's 48 h (OOS-13)."""
        return self.overlay.period if self.overlay else DEFAULT_PERIOD

    @property
    def period_timedelta(self) -> timedelta:
        return parse_period(self.period)

    @property
    def report_even_if_not_administered(self) -> bool:
        return bool(self.overlay and self.overlay.report_even_if_not_administered)

    @property
    def attachments(self) -> tuple[str, ...]:
        return self.overlay.attachments if self.overlay else ()


def normalise_country(country: str) -> str:
    """Upper-case, trimmed ISO code with the EU alias ``EL`` mapped to ``GR``."""
    code = str(country).strip().upper()
    return COUNTRY_ALIASES.get(code, code)


__all__ = [
    "COUNTRY_ALIASES",
    "DEFAULT_PERIOD",
    "EEA_EFTA_COUNTRIES",
    "EU_COUNTRIES",
    "REGISTER_COUNTRIES",
    "ClockStart",
    "NationalAnswer",
    "NationalOverlay",
    "NationalRequirement",
    "UnknownCountryError",
    "normalise_country",
    "parse_period",
]
