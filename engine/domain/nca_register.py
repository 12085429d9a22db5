"""The NCA country register: the packaged ``data/nca_register.json``, validated when loaded (OOS-14).

The register is validated when loaded (all 30 countries, exact keys, types, dates,
consistent confirmation state), so a bad edit fails loudly at start-up instead of
producing a wrong answer in a case. Loading reads one packaged file; everything else is
pure. The rules applied to its rows are :mod:`engine.domain.authorities`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from engine.domain.national_requirements import (
    REGISTER_COUNTRIES,
    ClockStart,
    NationalOverlay,
    NationalRequirement,
    parse_period,
)

REGISTER_PATH = Path(__file__).with_name("data") / "nca_register.json"
NOT_CONFIRMED = "not confirmed"

_ROW_KEYS = frozenset({
    "name", "authority", "must_be_informed", "overlay", "source", "as_of", "note", "patient_information_language",
})
_OVERLAY_KEYS = frozenset({
    "summary", "clock_starts_at", "period", "report_even_if_not_administered", "attachments", "product_scope",
})
_LANGUAGE = re.compile(r"^[a-z]{2}$")


class RegisterError(ValueError):
    """The NCA register file is malformed; ``problems`` lists every finding at once."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid NCA register:\n  " + "\n  ".join(problems))
        self.problems = problems


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


__all__ = [
    "NOT_CONFIRMED",
    "REGISTER_PATH",
    "RegisterError",
    "default_register",
    "load_register",
    "parse_register",
    "validate_register",
]
