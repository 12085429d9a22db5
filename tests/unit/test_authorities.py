"""NCA country register and the national notification rule (OOS-14)."""

from __future__ import annotations

import copy
import json
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta

import pytest

from engine.domain import national_requirements, nca_register
from engine.domain.authorities import (
    apply_confirmed_answer,
    national_requirement,
    notification_due,
    resolve_requirement,
)
from engine.domain.national_requirements import ClockStart, NationalAnswer, NationalOverlay, UnknownCountryError
from engine.domain.nca_register import RegisterError

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
RAW = json.loads(nca_register.REGISTER_PATH.read_text(encoding="utf-8"))


def answer(country: str = "DE", must: bool = True, at: datetime = T0, **extra: object) -> NationalAnswer:
    return NationalAnswer(
        country=country, must_be_informed=must, answered_by="NCA duty officer", recorded_by="ra.mueller",
        recorded_at=at, reference="mail 2026-03-02 10:12", **extra,
    )


def problems_of(data: dict) -> list[str]:
    with pytest.raises(RegisterError) as info:
        nca_register.parse_register(data)
    return info.value.problems


# --- the register file -------------------------------------------------------------------


def test_register_lists_exactly_the_27_eu_and_3_eea_countries():
    # REQ: OOS-14 every treating-site country of the EU/EEA is in the register
    register = nca_register.load_register()
    assert len(national_requirements.EU_COUNTRIES) == 27
    assert sorted(national_requirements.EEA_EFTA_COUNTRIES) == ["IS", "LI", "NO"]
    assert set(register) == national_requirements.REGISTER_COUNTRIES and len(register) == 30


def test_every_row_has_authority_source_and_date():
    # REQ: OOS-14 each answer carries its source and as-of date
    for code, row in nca_register.load_register().items():
        assert row.country == code and row.name and row.authority, code
        assert row.source and row.as_of is not None, code


def test_only_the_czech_and_dutch_overlays_are_confirmed_and_nothing_else_is_guessed():
    # REQ: OOS-14 unconfirmed countries are null with source "not confirmed", never a guessed false
    register = nca_register.load_register()
    confirmed = {code for code, row in register.items() if row.must_be_informed is not None}
    assert confirmed == {"CZ", "NL"}
    for code, row in register.items():
        if code in confirmed:
            assert row.must_be_informed is True and row.source != nca_register.NOT_CONFIRMED and row.overlay
        else:
            assert row.must_be_informed is None and row.source == nca_register.NOT_CONFIRMED and row.overlay is None


def test_czech_overlay_starts_the_48_hour_clock_at_delivery_to_the_site():
    # REQ: OOS-14 SÚKL: within 48 h of delivery to the site, also when not administered
    cz = national_requirement("CZ")
    assert "SÚKL" in cz.authority and cz.must_be_informed is True and not cz.needs_confirmation
    assert cz.clock_starts_at is ClockStart.DELIVERY_TO_SITE and cz.period == "PT48H"
    assert cz.report_even_if_not_administered


def test_dutch_overlay_needs_the_risk_analysis_and_covers_unauthorised_atmps():
    # REQ: OOS-14 IGJ: authorised and unauthorised ATMPs, risk analysis attached
    nl = national_requirement("nl")
    assert "IGJ" in nl.authority and nl.must_be_informed is True
    assert nl.attachments == ("risk_analysis",)
    assert nl.overlay is not None and set(nl.overlay.product_scope) == {"authorised", "unauthorised"}
    assert nl.clock_starts_at is ClockStart.SUPPLY and nl.period_timedelta == timedelta(hours=48)


def test_german_row_names_the_pei_for_atmps_and_needs_confirmation():
    # REQ: OOS-14 known-but-unconfirmed country: the case must ask the NCA
    de = national_requirement(" de ")
    assert de.country == "DE" and "Paul-Ehrlich-Institut" in de.authority
    assert de.must_be_informed is None and de.needs_confirmation
    assert not de.must_be_informed  # callers testing truthiness never notify on a guess
    assert de.clock_starts_at is ClockStart.SUPPLY and de.period == "PT48H"


def test_greece_is_found_under_iso_gr_and_the_eu_alias_el():
    assert national_requirement("EL") == national_requirement("GR")


@pytest.mark.parametrize("code", ["US", "CH", "UK", "XX", "", "DEU"])
def test_unknown_country_is_an_error_naming_the_code_and_the_rule(code):
    # REQ: OOS-14 a country outside the register is never read as "nothing to notify"
    with pytest.raises(UnknownCountryError) as info:
        national_requirement(code)
    assert repr(code) in str(info.value) and info.value.requirement == "OOS-14"


def test_requirements_are_immutable():
    with pytest.raises(FrozenInstanceError):
        national_requirement("CZ").must_be_informed = False  # type: ignore[misc]


# --- schema check --------------------------------------------------------------------------


def test_a_missing_country_is_refused():
    data = copy.deepcopy(RAW)
    del data["countries"]["MT"]
    assert problems_of(data) == ["countries missing: MT"]


def test_a_non_eea_code_is_refused():
    data = copy.deepcopy(RAW)
    data["countries"]["UK"] = copy.deepcopy(data["countries"]["IE"])
    assert problems_of(data) == ["not EU/EEA ISO 3166-1 alpha-2 codes: UK"]


def test_wrong_types_and_misspelt_keys_are_all_reported_at_once():
    data = copy.deepcopy(RAW)
    data["countries"]["AT"]["must_be_informed"] = "yes"
    data["countries"]["BE"]["as_of"] = "25.11.2026"
    data["countries"]["BG"]["autority"] = data["countries"]["BG"].pop("authority")
    data["countries"]["CZ"]["overlay"]["clock_starts_at"] = "arrival"
    data["countries"]["NL"]["overlay"]["period"] = "48 hours"
    problems = problems_of(data)
    assert any(p.startswith("AT: must_be_informed") for p in problems)
    assert any(p.startswith("BE: as_of") for p in problems)
    assert any(p.startswith("BG: keys missing ['authority'], unknown ['autority']") for p in problems)
    assert any(p.startswith("CZ: overlay.clock_starts_at") for p in problems)
    assert any(p.startswith("NL: overlay.period") for p in problems)


def test_an_integer_is_not_a_boolean_answer():
    data = copy.deepcopy(RAW)
    data["countries"]["AT"]["must_be_informed"] = 1
    data["countries"]["AT"]["source"] = "somewhere"
    assert any(p.startswith("AT: must_be_informed") for p in problems_of(data))


def test_a_confirmed_value_needs_a_source_and_an_unconfirmed_one_says_so():
    data = copy.deepcopy(RAW)
    data["countries"]["FR"]["must_be_informed"] = False  # a guess without a source
    data["countries"]["IT"]["source"] = "heard at a conference"  # a source for a null
    problems = problems_of(data)
    assert any(p.startswith("FR: must_be_informed is set but source says 'not confirmed'") for p in problems)
    assert any(p.startswith("IT: must_be_informed is null") for p in problems)


def test_an_overlay_on_a_country_without_a_duty_is_refused():
    data = copy.deepcopy(RAW)
    data["countries"]["SE"]["overlay"] = copy.deepcopy(data["countries"]["CZ"]["overlay"])
    assert any(p.startswith("SE: an overlay only applies") for p in problems_of(data))


def test_a_broken_file_is_a_register_error(tmp_path):
    path = tmp_path / "nca.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RegisterError, match="not valid JSON"):
        nca_register.load_register(path)


def test_a_valid_alternative_register_can_be_passed_in(tmp_path):
    data = copy.deepcopy(RAW)
    data["countries"]["DE"].update(must_be_informed=True, source="PEI letter 2026-04-01", as_of="2026-04-01")
    path = tmp_path / "nca.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    register = nca_register.load_register(path)
    assert national_requirement("DE", register).must_be_informed is True
    assert national_requirement("DE").must_be_informed is None  # the packaged register is untouched


# --- recorded answers ---------------------------------------------------------------------


def test_a_recorded_answer_settles_an_unconfirmed_country():
    # REQ: OOS-14 the NCA's answer is recorded with who, when and evidence
    settled = apply_confirmed_answer(national_requirement("DE"), answer("DE", True))
    assert settled.must_be_informed is True and not settled.needs_confirmation
    assert settled.answer is not None and settled.as_of == T0.date()
    assert "ra.mueller" in settled.source and "mail 2026-03-02 10:12" in settled.source
    assert settled.authority == national_requirement("DE").authority


def test_a_no_answer_drops_the_overlay():
    settled = apply_confirmed_answer(national_requirement("CZ"), answer("CZ", False))
    assert settled.must_be_informed is False and settled.overlay is None
    assert notification_due(settled, supplied_at=T0, delivered_to_site_at=T0) is None


def test_an_answer_can_bring_its_own_national_specifics():
    overlay = NationalOverlay("inform within 24 h of supply", period="PT24H", attachments=("risk_analysis",))
    settled = apply_confirmed_answer(national_requirement("FR"), answer("FR", True, overlay=overlay))
    assert settled.period == "PT24H" and settled.attachments == ("risk_analysis",)


def test_an_answer_for_another_country_is_refused():
    with pytest.raises(ValueError, match="an answer for AT cannot settle the requirement of DE"):
        apply_confirmed_answer(national_requirement("DE"), answer("AT"))


def test_answers_are_reused_and_the_latest_one_wins():
    # REQ: OOS-14 answers per country are reused for later cases
    answers = [
        answer("DE", False, T0),
        answer("DE", True, T0 + timedelta(days=30)),
        answer("AT", False, T0 + timedelta(days=60)),
    ]
    assert resolve_requirement("DE", answers).must_be_informed is True
    assert resolve_requirement("AT", answers).must_be_informed is False
    assert resolve_requirement("IT", answers).needs_confirmation


@pytest.mark.parametrize("bad", [{"must_be_informed": None}, {"recorded_at": datetime(2026, 3, 2)},
                                 {"reference": " "}])
def test_an_answer_must_be_yes_or_no_dated_and_evidenced(bad):
    fields = {"country": "DE", "must_be_informed": True, "answered_by": "NCA", "recorded_by": "ra",
              "recorded_at": T0, "reference": "mail"} | bad
    with pytest.raises(ValueError):
        NationalAnswer(**fields)


# --- clock --------------------------------------------------------------------------------


def test_default_clock_is_48_hours_from_supply_with_the_supervisory_authority():
    # REQ: OOS-14 NCA informed at the same time as the Supervisory Authority (48 h from supply)
    fr = apply_confirmed_answer(national_requirement("FR"), answer("FR", True))
    assert notification_due(fr, supplied_at=T0) == T0 + timedelta(hours=48)
    assert notification_due(fr) is None  # not supplied yet: no clock


def test_czech_clock_runs_from_delivery_to_the_site_not_from_supply():
    # REQ: OOS-14 SÚKL clock starts at delivery to the site
    cz = national_requirement("CZ")
    delivered = T0 + timedelta(hours=6)
    assert notification_due(cz, supplied_at=T0, delivered_to_site_at=delivered) == delivered + timedelta(hours=48)
    assert notification_due(cz, supplied_at=T0) is None


def test_no_due_time_while_the_duty_is_unconfirmed():
    assert notification_due(national_requirement("DE"), supplied_at=T0) is None


def test_clock_start_must_be_timezone_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        notification_due(national_requirement("NL"), supplied_at=datetime(2026, 3, 2, 9, 30))


@pytest.mark.parametrize(("text", "expected"), [
    ("PT48H", timedelta(hours=48)), ("P2D", timedelta(days=2)), ("P1DT12H", timedelta(hours=36)),
    ("PT90M", timedelta(minutes=90)),
])
def test_periods_parse(text, expected):
    assert national_requirements.parse_period(text) == expected


@pytest.mark.parametrize("text", ["48h", "P", "PT", "P1M", "PT0H", "P1DT", ""])
def test_bad_periods_are_refused(text):
    with pytest.raises(ValueError):
        national_requirements.parse_period(text)
