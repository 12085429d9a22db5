"""Who performs a communication duty when a written agreement assigns it (OOS-15). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Which role acts for a party when the agreement makes it responsible for a duty.
PARTY_ROLES = {"manufacturer": "qa", "importer": "importer_qa", "mah": "mah_ra"}


def role_for_duty(responsibilities: Mapping[str, Any] | None, duty: str | None) -> str | None:
    """The role acting for the party an agreement names for ``duty`` (None: keep the lane's role)."""
    if not responsibilities or not duty or duty not in responsibilities:
        return None
    return PARTY_ROLES.get(str(responsibilities[duty]))
