"""A notification about a signed decision carries the signature's manifestation (OOS-24, 21 CFR 11.50)."""

from __future__ import annotations

from datetime import UTC, datetime

from workers.notifications import render

SIGNED = {"printed_name": "Sofia Lindqvist", "signed_at": "2026-03-02T09:15:00+00:00", "meaning": "approval",
          "statement": "I approve the notification of the Supervisory Authority", "sha256": "ab" * 32}


def work(context: dict[str, object]) -> dict[str, object]:
    return {"params": {"party": "supervisory_authority", "requirement": "OOS-13", "subject": "OOS batch supplied"},
            "context": {"case_reference": "OOS-2026-0001", "product_code": "CART19-AUTH", **context},
            "message_id": "m-1", "requested_at": "2026-03-02T09:16:00+00:00", "case_id": "c", "batch_id": "b"}


def test_the_sa_notification_shows_who_signed_the_approval_when_and_what_it_means() -> None:
    # REQ: OOS-24
    message = render(work({"signature__approve_sa_notification": SIGNED}), {}, datetime(2026, 3, 2, 10, tzinfo=UTC))
    body = message.get_content()
    assert "Signed decisions" in body
    assert ("I approve the notification of the Supervisory Authority: Sofia Lindqvist, 2026-03-02T09:15:00+00:00 UTC, "
            f"meaning 'approval', SHA-256 {'ab' * 32}") in body


def test_a_notification_without_signed_decisions_has_no_signature_section() -> None:
    # REQ: OOS-24
    body = render(work({}), {}, datetime(2026, 3, 2, 10, tzinfo=UTC)).get_content()
    assert "Signed decisions" not in body
