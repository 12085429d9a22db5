"""A QA head's and a physician's day in the browser: log in, inbox, claim, a form refused inline then
completed, a signed request, the case page's diagram marking moving, a late deadline in red, the audit
trail exported as CSV — each page free of serious or critical axe-core violations.

# REQ: OOS-03 OOS-06 OOS-13 OOS-16 OOS-24 OOS-25
"""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from engine.services import cases
from oospath.demo_people import DEMO_PASSWORD
from tests.browser.conftest import Site, assert_accessible, login_as, screenshot

INVESTIGATION = "Investigate OOS and root cause"
RED, AMBER = "rgb(253, 232, 232)", "rgb(255, 241, 214)"  # --red-bg, --amber-bg of oospath.css


def _background(row) -> str:
    return row.first.evaluate("r => getComputedStyle(r.querySelector('td')).backgroundColor")


def test_qa_claims_and_completes_a_task_after_inline_errors(site: Site, page) -> None:
    case_id = site.open_case()
    login_as(page, site, "qa", case_id)
    assert page.get_by_role("heading", name="My tasks").is_visible()
    row = page.locator("#tasks tr", has_text=INVESTIGATION)
    assert row.count() == 1
    assert_accessible(page)
    screenshot(page, "inbox")

    row.get_by_role("link", name=INVESTIGATION).click()
    page.get_by_role("button", name="Claim this task").click()
    assert page.locator("#task-assignee").inner_text() == "anna.keller"
    page.get_by_label("Phase I: laboratory investigation", exact=False).fill("Re-test confirmed the result.")
    page.get_by_role("button", name="Complete").click()
    # refused inline, each missing field named with the requirement it cites; nothing completed
    assert page.locator("#form-errors").is_visible()
    assert "OOS-16" in page.locator("[data-field=product_quality_impact] .field-error").inner_text()
    assert page.locator("#task-state").inner_text() == "ready"
    assert_accessible(page)

    page.get_by_label("Root cause", exact=False).fill("Prolonged transport of the starting material.")
    page.get_by_label("Impact on product quality", exact=False).fill("Lower viable fraction; dose in range.")
    page.locator("[data-field=capa_required]").get_by_label("Yes").check()
    page.get_by_role("button", name="Complete").click()
    page.wait_for_url(re.compile(rf".*/ui/cases/{case_id}.*"))
    assert page.get_by_role("status").first.inner_text().startswith("Task completed")
    page.wait_for_selector("#diagram[data-marked-version]")
    assert page.locator('#diagram [data-element-id="investigate_oos"].oos-completed').count() == 1


def test_physician_signs_the_request_in_the_signature_dialog(site: Site, page) -> None:
    case_id = site.open_case()
    task = site.work_until(case_id, "physician_decision")
    login_as(page, site, "physician", case_id)
    page.goto(f"{site.url}/ui/tasks/{task.id}")
    sha = page.locator("#risk-evaluation-sha256").inner_text().split()[-1]
    form = page.locator("#task-form")
    form.locator("[data-field=request_batch]").get_by_label("Yes").check()
    form.locator("[data-field=attest_immediate_significant_hazard]").get_by_label("Yes").check()
    form.locator("[data-field=attest_no_suitable_alternative]").get_by_label("Yes").check()
    page.get_by_label("Patient's specific condition", exact=False).fill("Relapsed DLBCL, rapidly progressive.")
    page.get_by_label("Risk evaluation version considered", exact=False).fill(sha)

    page.get_by_role("button", name="Complete and sign…").click()
    dialog = page.get_by_role("dialog", name="Electronic signature")
    assert "I request the use of this out-of-specification batch" in dialog.inner_text()
    assert_accessible(page)
    dialog.get_by_label("Password").fill("not-my-password")
    if dialog.get_by_label("User name").count():
        dialog.get_by_label("User name").fill("dr.lucas.moreau")
    dialog.get_by_role("button", name="Sign and complete").click()
    assert "OOS-24" in page.locator("#form-errors").inner_text()  # wrong password: nothing signed

    page.get_by_role("button", name="Complete and sign…").click()
    dialog.get_by_label("User name").fill("dr.lucas.moreau")
    dialog.get_by_label("Password").fill(DEMO_PASSWORD)
    dialog.get_by_role("button", name="Sign and complete").click()
    page.wait_for_url(re.compile(rf".*/ui/cases/{case_id}.*"))
    manifest = page.locator(".signature-manifest", has_text="request")
    assert manifest.count() >= 1
    assert "Dr" in manifest.first.inner_text() or "Moreau" in manifest.first.inner_text()


def test_case_page_marks_the_diagram_as_the_case_moves_and_shows_a_late_deadline_in_red(site: Site, page) -> None:
    case_id = site.open_case()
    login_as(page, site, "qa", case_id)
    page.goto(f"{site.url}/ui/cases/{case_id}")
    diagram = page.locator("#diagram")
    page.wait_for_selector("#diagram[data-marked-version]")
    first_version = diagram.get_attribute("data-marked-version")
    assert page.locator('#diagram [data-element-id="investigate_oos"].oos-active').count() == 1

    site.work_until(case_id, "evaluate_risks")  # someone else completes the investigation meanwhile
    page.wait_for_function(
        "v => document.querySelector('#diagram').getAttribute('data-marked-version') !== v", arg=first_version)
    assert page.locator('#diagram [data-element-id="investigate_oos"].oos-completed').count() == 1
    assert page.locator('#diagram [data-element-id="evaluate_risks"].oos-active').count() == 1
    assert_accessible(page)

    site.work_until(case_id, "approve_sa_notification")  # supplied: the 48 h SA deadline runs (OOS-13)
    site.advance(timedelta(hours=40))  # past the escalation time (36 h), before the deadline
    page.context.clear_cookies()
    login_as(page, site, "mah_ra", case_id)  # the MAH's approval of the SA notification: escalated, in amber
    escalated = page.locator("#tasks tr.urgency-escalated")
    assert escalated.count() == 1 and "ESCALATED" in escalated.inner_text().upper()
    assert _background(escalated) == AMBER
    assert_accessible(page)
    screenshot(page, "inbox", height=700)

    site.advance(timedelta(hours=10))  # the deadline has passed
    page.reload()  # ten hours later the 8-hour login has expired: back to the login page
    assert "/ui/login" in page.url
    login_as(page, site, "mah_ra", case_id)
    overdue = page.locator("#tasks tr.urgency-overdue")
    assert overdue.count() == 1 and "OVERDUE" in overdue.inner_text().upper()
    assert _background(overdue) == RED
    page.goto(f"{site.url}/ui/cases/{case_id}")
    late = page.locator("#deadlines tr.deadline-overdue", has_text="Supervisory Authority notified after supply")
    assert late.count() == 1 and _background(late) == RED
    page.wait_for_selector("#diagram[data-marked-version]")
    screenshot(page, "case")


def test_auditor_filters_the_audit_trail_and_exports_it_as_csv(site: Site, page) -> None:
    case_id = site.open_case()
    site.work_until(case_id, "evaluate_risks")
    login_as(page, site, "qa", case_id)
    page.goto(f"{site.url}/ui/cases/{case_id}")
    assert "chain intact" in page.locator("#chain-status").inner_text().lower()
    page.get_by_label("Action").select_option("task.completed")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#audit tbody tr")
    assert rows.count() >= 1
    assert all(a == "task.completed" for a in rows.locator("td:nth-child(5)").all_inner_texts())
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = download.value.path().read_text()
    exported = list(csv.DictReader(io.StringIO(text)))
    assert exported and {r["action"] for r in exported} == {"task.completed"}
    assert len(exported) == rows.count()
    assert all(len(r["row_hash"]) == 64 for r in exported)


def test_keyboard_alone_logs_in_and_opens_a_task_with_visible_focus(site: Site, page) -> None:
    case_id = site.open_case()
    with site.app.uow() as uow:
        manufacturer = cases.get_case(uow.session, case_id).parties["manufacturer"]
    page.goto(f"{site.url}/ui/login")
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")  # to the main content, then into the form
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type("anna.keller")
    page.keyboard.press("Tab")
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(manufacturer)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/ui/inbox$"))
    for _ in range(30):  # tab to the task's link
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == INVESTIGATION:
            break
    else:
        raise AssertionError("the task's link cannot be reached with the keyboard")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/ui/tasks/.*"))
    assert page.get_by_role("heading", name=INVESTIGATION).is_visible()
