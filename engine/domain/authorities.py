"""Which national competent authorities expect to be told (OOS-14), in breadth.

The full country register (all EU/EEA countries, with source and date, confirmation
tasks for unknown countries and answers reused across cases) is a later issue. Until
then the pathway uses the two national overlays the EMA Q&A article names, and treats
every other country as "no national notification required" while recording that the
answer came from this default, so it is visible on the case.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NationalRequirement:
    country: str
    authority: str
    must_be_informed: bool
    source: str


KNOWN_OVERLAYS = {
    "CZ": NationalRequirement("CZ", "SÚKL", True, "EMA Q&A article: report within 48 h of delivery to the site"),
    "NL": NationalRequirement("NL", "IGJ", True, "EMA Q&A article: notify with the risk analysis attached"),
}


def national_requirement(country: str) -> NationalRequirement:
    country = country.upper()
    return KNOWN_OVERLAYS.get(
        country,
        NationalRequirement(country, f"NCA {country}", False, "default: not confirmed with the NCA yet"),
    )
