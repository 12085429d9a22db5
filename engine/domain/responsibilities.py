"""The responsibility table of the written agreement (OOS-15), and who performs each duty. Pure.

Where manufacturer, importer and MAH are different legal entities, the written agreement
names, for every communication duty below, the party that performs it; a BPMN task that
carries ``responsibleDuty`` goes to the role acting for that party. Without an agreement (or
for a duty it does not name) the task stays with its lane's role.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Duty:
    """A communication duty the agreement assigns to one party."""

    name: str
    title: str
    requirements: str
    description: str


DUTIES = (
    Duty("treating_physician", "Treating physician", "OOS-04 OOS-06",
         "Communicates with the treating physician(s): the OOS, the risk evaluation."),
    Duty("supervisory_authority", "Supervisory Authority", "OOS-12 OOS-13",
         "Approves and sends the Supervisory Authority notification within 48 h of supply."),
    Duty("national_competent_authority", "National competent authority", "OOS-14",
         "Confirms with the NCA of each treating site's country whether it must be informed, and informs it "
         "where it must."),
    Duty("sponsor_competent_authority", "Sponsor competent authority", "OOS-11",
         "Records the notification of the relevant competent authority in a clinical trial."),
    Duty("ema_periodic_review", "EMA periodic review", "OOS-20",
         "Submits the 6-monthly periodic review to EMA as a Quality Defect Report."),
)
DUTY_NAMES = tuple(duty.name for duty in DUTIES)

# Which role acts for a party when the agreement makes it responsible for a duty. The sponsor of a
# clinical trial may be named for its duties (OOS-11), although it signs no agreement here.
PARTY_ROLES = {"manufacturer": "qa", "importer": "importer_qa", "mah": "mah_ra", "sponsor": "sponsor"}
PARTIES = tuple(PARTY_ROLES)


def role_for_duty(responsibilities: Mapping[str, Any] | None, duty: str | None) -> str | None:
    """The role acting for the party an agreement names for ``duty`` (None: keep the lane's role)."""
    if not responsibilities or not duty or duty not in responsibilities:
        return None
    return PARTY_ROLES.get(str(responsibilities[duty]))
