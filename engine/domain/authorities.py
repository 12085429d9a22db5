"""Which national competent authority (NCA) of a treating site's country must be told (OOS-14).

The EMA Q&A asks the manufacturer/importer/MAH to *contact* the NCA of each treating
site's country to confirm whether it must be informed and, where it must, to inform it
at the same time as the Supervisory Authority (48 h after supply, OOS-13). This module
holds the country register behind that rule, as data (``data/nca_register.json``), and
the pure rules around it:

* **Every EU/EEA country is listed** (27 EU + IS, LI, NO, by ISO 3166-1 alpha-2 code;
  Greece is ``GR``, and the EU's ``EL`` is accepted as an alias). A code outside the
  register is an error, not "no notification": the pathway covers EU/EEA sites only,
  and silently treating a typo as "nothing to notify" would hide an obligation.
* **Nothing is guessed.** ``must_be_informed`` is ``True``/``False`` only where a source
  says so, with that source and its date on the row. Every other country is ``None``
  (not confirmed) and the requirement says ``needs_confirmation``: the case must ask the
  NCA (a confirmation task) and the recorded :class:`NationalAnswer` is reused for
  later cases through :func:`apply_confirmed_answer` / :func:`resolve_requirement`.
  Storing answers is the caller's job; this module only applies them.
* **The clock can start elsewhere.** By default the NCA is informed with the
  Supervisory Authority, ``PT48H`` from supply; a national overlay can start it at
  delivery to the site instead (Czechia) and can ask for attachments (Netherlands).
  :func:`notification_due` computes the due time from the recorded events.

The register is validated when loaded (all 30 countries, exact keys, types, dates,
consistent confirmation state), so a bad edit fails loudly at start-up instead of
producing a wrong answer in a case. Loading reads one packaged file; everything else is
pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

REGISTER_PATH = Path(__file__).with_name("data") / "nca_register.json"
NOT_CONFIRMED = "not confirmed"
DEFAULT_PERIOD = "PT48H"

EU_COUNTRIES = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
})
EEA_EFTA_COUNTRIES = frozenset({"IS", "LI", "NO"})
REGISTER_COUNTRIES = EU_COUNTRIES | EEA_EFTA_COUNTRIES
COUNTRY_ALIASES = {"EL": "GR"}  # EU institutions' code for Greece

_ROW_KEYS = frozenset({
    "name", "authority", "must_be_informed", "overlay", "source", "as_of", "note", "patient_information_language",
})
_OVERLAY_KEYS = frozenset({
    "summary", "clock_starts_at", "period", "report_even_if_not_administered", "attachments", "product_scope",
})
_HOURS = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


class RegisterError(ValueError):
    """The NCA register file is malformed; ``problems`` lists every finding at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid NCA register:\n  " + "\n  ".join(problems))
        self.problems = problems


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


# --- loading and validation ---------------------------------------------------------


def _is_period(text: str) -> bool:
    try:
        parse_period(text)
    except ValueError:
        return False
    return True


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is not None


def _has_exact_keys(where: str, obj: dict[str, Any], expected: frozenset[str], problems: list[str]) -> bool:
    """Exact key set: a misspelt key would otherwise be ignored and its default silently used."""
    keys = set(obj)
    if keys == expected:
        return True
    problems.append(f"{where}: keys missing {sorted(expected - keys)}, unknown {sorted(keys - expected)}")
    return False


def _check_overlay(code: str, overlay: Any, problems: list[str]) -> None:
    if not isinstance(overlay, dict):
        problems.append(f"{code}: overlay must be an object or null")
        return
    if not _has_exact_keys(f"{code}: overlay", overlay, _OVERLAY_KEYS, problems):
        return
    if not isinstance(overlay["summary"], str) or not overlay["summary"].strip():
        problems.append(f"{code}: overlay.summary must be a non-empty string")
    if overlay["clock_starts_at"] not in {c.value for c in ClockStart}:
        problems.append(f"{code}: overlay.clock_starts_at must be one of {[c.value for c in ClockStart]}")
    if not isinstance(overlay["period"], str) or not _is_period(overlay["period"]):
        problems.append(f"{code}: overlay.period must be an ISO 8601 duration such as PT48H")
    if not isinstance(overlay["report_even_if_not_administered"], bool):
        problems.append(f"{code}: overlay.report_even_if_not_administered must be true or false")
    for key in ("attachments", "product_scope"):
        value = overlay[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append(f"{code}: overlay.{key} must be a list of non-empty strings")


def _check_row(code: str, row: Any, problems: list[str]) -> None:
    if not isinstance(row, dict):
        problems.append(f"{code}: row must be an object")
        return
    if not _has_exact_keys(code, row, _ROW_KEYS, problems):
        return
    for key in ("name", "authority", "source"):
        if not isinstance(row[key], str) or not row[key].strip():
            problems.append(f"{code}: {key} must be a non-empty string")
    if not (row["must_be_informed"] is None or isinstance(row["must_be_informed"], bool)):
        problems.append(f"{code}: must_be_informed must be true, false or null")
    if not isinstance(row["as_of"], str) or not _is_iso_date(row["as_of"]):
        problems.append(f"{code}: as_of must be an ISO date (YYYY-MM-DD)")
    for key in ("note", "patient_information_language"):
        if row[key] is not None and (not isinstance(row[key], str) or not row[key].strip()):
            problems.append(f"{code}: {key} must be a non-empty string or null")
    language = row["patient_information_language"]
    if isinstance(language, str) and not _LANGUAGE.match(language):
        problems.append(f"{code}: patient_information_language must be a lower-case ISO 639-1 code such as 'nl'")
    # Consistency: a row is either unconfirmed (null, no overlay) or backed by a source.
    confirmed = row["must_be_informed"] is not None
    if confirmed and row["source"] == NOT_CONFIRMED:
        problems.append(f"{code}: must_be_informed is set but source says 'not confirmed': name the source")
    if not confirmed and row["source"] != NOT_CONFIRMED:
        problems.append(f"{code}: must_be_informed is null, so source must be exactly 'not confirmed'")
    if row["overlay"] is not None:
        if row["must_be_informed"] is not True:
            problems.append(f"{code}: an overlay only applies where the NCA must be informed (must_be_informed true)")
        _check_overlay(code, row["overlay"], problems)


def validate_register(data: Any) -> None:
    """Raise :class:`RegisterError` listing every problem of a parsed register document."""
    problems: list[str] = []
    if not isinstance(data, dict) or not isinstance(data.get("countries"), dict):
        raise RegisterError(["the register must be an object with a 'countries' object"])
    if data.get("schema_version") != 1:
        problems.append(f"schema_version must be 1, got {data.get('schema_version')!r}")
    countries: dict[str, Any] = data["countries"]
    missing = sorted(REGISTER_COUNTRIES - set(countries))
    unknown = sorted(set(countries) - REGISTER_COUNTRIES)
    if missing:
        problems.append(f"countries missing: {', '.join(missing)}")
    if unknown:
        problems.append(f"not EU/EEA ISO 3166-1 alpha-2 codes: {', '.join(unknown)}")
    for code in sorted(set(countries) & REGISTER_COUNTRIES):
        _check_row(code, countries[code], problems)
    if problems:
        raise RegisterError(problems)


def _overlay_from(data: Mapping[str, Any] | None) -> NationalOverlay | None:
    if data is None:
        return None
    return NationalOverlay(
        summary=data["summary"], clock_starts_at=ClockStart(data["clock_starts_at"]), period=data["period"],
        report_even_if_not_administered=data["report_even_if_not_administered"],
        attachments=tuple(data["attachments"]), product_scope=tuple(data["product_scope"]),
    )


def parse_register(data: Any) -> dict[str, NationalRequirement]:
    """Validate a parsed register document and build one requirement per country."""
    validate_register(data)
    return {
        code: NationalRequirement(
            country=code, authority=row["authority"], must_be_informed=row["must_be_informed"],
            source=row["source"], as_of=date.fromisoformat(row["as_of"]), name=row["name"],
            overlay=_overlay_from(row["overlay"]), note=row["note"],
            patient_information_language=row["patient_information_language"],
        )
        for code, row in data["countries"].items()
    }


def load_register(path: Path | None = None) -> dict[str, NationalRequirement]:
    """Read and validate a register file (default: the packaged ``data/nca_register.json``)."""
    target = path or REGISTER_PATH
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RegisterError([f"{target}: not valid JSON: {exc}"]) from exc
    return parse_register(data)


@cache
def default_register() -> Mapping[str, NationalRequirement]:
    """The packaged register, loaded and validated once per process."""
    return load_register()


# --- rules --------------------------------------------------------------------------


def national_requirement(
    country: str, register: Mapping[str, NationalRequirement] | None = None
) -> NationalRequirement:
    """The register row of a treating-site country (OOS-14); unknown codes raise.

    An unconfirmed country comes back with ``must_be_informed=None`` and
    ``needs_confirmation=True``: ask the NCA, record the answer, and apply it with
    :func:`apply_confirmed_answer`.
    """
    rows = default_register() if register is None else register
    code = normalise_country(country)
    try:
        return rows[code]
    except KeyError:
        raise UnknownCountryError(str(country)) from None


def apply_confirmed_answer(requirement: NationalRequirement, answer: NationalAnswer) -> NationalRequirement:
    """The requirement as the NCA's recorded answer settles it (OOS-14: answers are reused).

    The NCA's own answer is the primary source, so it replaces the register's value and
    source (the register row stays available through :func:`national_requirement`). An
    answer "not required" drops any overlay; "required" keeps the register's overlay
    unless the answer brings its own.
    """
    if answer.country != requirement.country:
        raise ValueError(f"an answer for {answer.country} cannot settle the requirement of {requirement.country}")
    overlay = (answer.overlay or requirement.overlay) if answer.must_be_informed else None
    source = (
        f"NCA answer ({answer.answered_by}) recorded by {answer.recorded_by} at "
        f"{answer.recorded_at.isoformat()}, reference {answer.reference}"
    )
    return replace(
        requirement, must_be_informed=answer.must_be_informed, source=source,
        as_of=answer.recorded_at.date(), overlay=overlay, answer=answer,
    )


def latest_answer(answers: Iterable[NationalAnswer], country: str) -> NationalAnswer | None:
    """The most recently recorded answer for ``country``, or None if it was never asked."""
    code = normalise_country(country)
    matching = [a for a in answers if a.country == code]
    return max(matching, key=lambda a: a.recorded_at) if matching else None


def resolve_requirement(
    country: str,
    answers: Iterable[NationalAnswer] = (),
    register: Mapping[str, NationalRequirement] | None = None,
) -> NationalRequirement:
    """Register row with the latest recorded answer for the country applied, if any."""
    requirement = national_requirement(country, register)
    answer = latest_answer(answers, requirement.country)
    return apply_confirmed_answer(requirement, answer) if answer else requirement


def notification_due(
    requirement: NationalRequirement,
    *,
    supplied_at: datetime | None = None,
    delivered_to_site_at: datetime | None = None,
) -> datetime | None:
    """When the NCA notification is due, or None while its clock has not started.

    The clock starts at the event the country names (:attr:`NationalRequirement.clock_starts_at`):
    supply by default (together with the Supervisory Authority, OOS-13/14), delivery to
    the site for a country such as Czechia. A requirement that is not (or not yet) a
    duty to notify has no due time.
    """
    if not requirement.must_be_informed:
        return None
    start = delivered_to_site_at if requirement.clock_starts_at is ClockStart.DELIVERY_TO_SITE else supplied_at
    if start is None:
        return None
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("the clock-start time must be timezone-aware")
    return start + requirement.period_timedelta


__all__ = [
    "COUNTRY_ALIASES",
    "DEFAULT_PERIOD",
    "EEA_EFTA_COUNTRIES",
    "EU_COUNTRIES",
    "NOT_CONFIRMED",
    "REGISTER_COUNTRIES",
    "REGISTER_PATH",
    "ClockStart",
    "NationalAnswer",
    "NationalOverlay",
    "NationalRequirement",
    "RegisterError",
    "UnknownCountryError",
    "apply_confirmed_answer",
    "default_register",
    "latest_answer",
    "load_register",
    "national_requirement",
    "normalise_country",
    "notification_due",
    "parse_period",
    "parse_register",
    "resolve_requirement",
    "validate_register",
]
