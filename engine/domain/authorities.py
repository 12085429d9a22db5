"""Which national competent authority (NCA) of a treating site's country must be told (OOS-14).

The EMA Q&A asks the manufacturer/importer/MAH to *contact* the NCA of each treating
site's country to confirm whether it must be informed and, where it must, to inform it
at the same time as the Supervisory Authority (48 h after supply, OOS-13). This module
holds the pure rules around the country register behind that rule (``data/nca_register.json``,
loaded and validated by :mod:`engine.domain.nca_register`):

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

The register's rows and the recorded answers are the types of
:mod:`engine.domain.national_requirements`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from engine.domain.national_requirements import (
    ClockStart,
    NationalAnswer,
    NationalRequirement,
    UnknownCountryError,
    normalise_country,
)
from engine.domain.nca_register import default_register


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


# NationalAnswer, NationalRequirement and UnknownCountryError are defined in engine.domain.national_requirements;
# they are the rules' arguments, results and refusal, and some callers import them with the rules.
__all__ = [
    "NationalAnswer",
    "NationalRequirement",
    "UnknownCountryError",
    "apply_confirmed_answer",
    "latest_answer",
    "national_requirement",
    "notification_due",
    "resolve_requirement",
]
