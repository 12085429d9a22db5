"""Plausible recorded times: what users record about supply and administration must be able to be true.

The 48 h deadline is computed from the recorded supply (or delivery) time (OOS-13) and the
administration is what pharmacovigilance reads (OOS-19), so a time in the future (beyond
``Settings.future_tolerance_minutes``, for clocks slightly apart), a delivery before the supply,
or an administration before supply or after the case closed is refused, naming the rule and field.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.services.errors import InvalidData, RuleViolation
from engine.settings import Settings
from engine.store.models import CaseRow

if TYPE_CHECKING:
    from engine.services.pathway_rules import Completion


def future_tolerance() -> timedelta:
    """How far in the future a recorded time may lie (``OOSPATH_FUTURE_TOLERANCE_MINUTES``, default 5)."""
    return timedelta(minutes=Settings().future_tolerance_minutes)


def recorded_time(data: dict[str, Any], field: str) -> datetime:
    """``data[field]`` as an aware time; a missing zone is refused (GMP records store UTC)."""
    try:
        moment = datetime.fromisoformat(str(data[field]).replace("Z", "+00:00"))
    except (KeyError, ValueError) as exc:
        raise InvalidData(f"{field}: give an ISO 8601 date-time with its time zone") from exc
    if moment.tzinfo is None:
        raise InvalidData(f"{field}: give a time zone (e.g. 'Z' or '+01:00'); GMP records store UTC")
    return moment


def not_in_future(requirement: str, field: str, moment: datetime, now: datetime) -> None:
    tolerance = future_tolerance()
    if moment > now + tolerance:
        raise RuleViolation(requirement, f"{field} {moment.isoformat()} is in the future (it is now {now.isoformat()}"
                                         f", tolerance {tolerance.total_seconds() / 60:g} min): record when it "
                                         "happened, not when it is planned")


def check_supply(c: Completion) -> None:
    """OOS-13: supply and delivery to the site have happened, the delivery not before the supply."""
    supplied = recorded_time(c.data, "supplied_at")
    delivered = recorded_time(c.data, "delivered_to_site_at")
    not_in_future("OOS-13", "supplied_at", supplied, c.at)
    not_in_future("OOS-13", "delivered_to_site_at", delivered, c.at)
    if delivered < supplied:
        raise RuleViolation("OOS-13", f"delivered_to_site_at {delivered.isoformat()} is before supplied_at "
                                      f"{supplied.isoformat()}: a batch is delivered after it is supplied")


def check_sponsor_notification(c: Completion) -> None:
    """OOS-11: the sponsor's notification of its competent authority has happened."""
    not_in_future("OOS-11", "notified_at", recorded_time(c.data, "notified_at"), c.at)


def check_administration(c: Completion, case: CaseRow) -> datetime:
    """OOS-19: the dose was administered, after the batch was supplied and delivered, before the case closed."""
    administered = recorded_time(c.data, "administered_at")
    not_in_future("OOS-19", "administered_at", administered, c.at)
    for field, what in (("supplied_at", "supplied"), ("delivered_to_site_at", "delivered to the treating site")):
        if c.process_data.get(field) and administered < (earlier := recorded_time(c.process_data, field)):
            raise RuleViolation("OOS-19", f"administered_at {administered.isoformat()} is before the batch was "
                                          f"{what} ({field} {earlier.isoformat()})")
    if case.closed_at is not None and administered > case.closed_at:
        raise RuleViolation("OOS-19", f"administered_at {administered.isoformat()} is after the case closed "
                                      f"({case.closed_at.isoformat()})")
    return administered
