"""Browser: the process designer's pages — the modeler with live lint and the engine's checks on the
elements, deploy as a new version, the version's diff, and QA's signed approval (OOS-08, OOS-24, OOS-25)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Site, assert_accessible, login, screenshot

QP_VERIFICATION = "verify_batch_verifications"
NEW_NAME = "Verify batch verifications and records"


def element(page: Any, element_id: str) -> Any:
    return page.locator(f'#modeler .djs-element[data-element-id="{element_id}"]').first


def drag_element_up(page: Any, element_id: str, diagram_units: int) -> None:
    """Drag a shape up by ``diagram_units`` (at the current zoom), as a designer does with the mouse."""
    shape = element(page, element_id)
    shape.scroll_into_view_if_needed()
    box = shape.bounding_box()
    scale = box["height"] / 80  # a task is 80 units high
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 10, steps=3)
    page.mouse.move(x, y - diagram_units * scale, steps=12)
    page.mouse.up()


def validate(page: Any, times: int) -> None:
    page.get_by_role("button", name="Validate").click()
    page.wait_for_selector(f'#validation-problems[data-validated="{times}"]', state="attached")


def rename(page: Any, element_id: str, name: str) -> None:
    """Direct editing: double-click the shape, replace its label, click elsewhere to finish."""
    element(page, element_id).dblclick()
    editor = page.locator(".djs-direct-editing-parent")
    editor.wait_for()
    page.keyboard.press("Control+A")
    page.keyboard.type(name)
    page.locator("#modeler .djs-container > svg").click(position={"x": 5, "y": 5})


def test_designer_breaks_a_diagram_sees_the_error_on_the_element_fixes_it_deploys_and_sees_the_diff(
        site: Site, page: Any) -> None:
    # REQ: OOS-08 OOS-09 OOS-24 OOS-25
    login(page, site, "ines.designer")
    page.goto(f"{site.url}/ui/designer")
    row = page.locator('table[data-key="oos_case"] tr[data-version="1"]')
    assert "approved" in row.inner_text().lower()
    assert_accessible(page)
    screenshot(page, "designer-list")

    row.get_by_role("link", name=re.compile("Edit")).click()
    page.wait_for_selector("#modeler[data-loaded]", state="attached")
    page.wait_for_selector("#lint-issues[data-linted]", state="attached")
    assert page.locator("#lint-summary").inner_text() == "No lint finding."
    assert page.locator(".bjs-powered-by").is_visible(), "the bpmn.io watermark stays visible (bpmn-js licence)"
    assert_accessible(page)

    # break it: the QP's verification moved out of the QP's lane into the physician's
    drag_element_up(page, QP_VERIFICATION, 120)
    validate(page, 1)
    problem = page.locator(f'#validation-problems li[data-element-id="{QP_VERIFICATION}"]')
    assert "OOS-08" in problem.inner_text() and "lane_physician" in problem.inner_text()
    overlay = page.locator(".djs-overlay-oos-problem .problem-overlay")
    assert overlay.count() == 1 and "OOS-08" in overlay.inner_text()
    assert element(page, QP_VERIFICATION).evaluate("e => e.classList.contains('oos-problem')")
    assert "refuse" in page.locator("#designer-status").inner_text()
    problem.get_by_role("button").click()  # the list's button selects the element on the diagram
    assert element(page, QP_VERIFICATION).evaluate("e => e.classList.contains('selected')")
    assert_accessible(page)
    screenshot(page, "designer-problem-on-element")

    # fix it (undo the move), rename the task, validate, deploy
    page.locator("#modeler .djs-container > svg").focus()
    page.keyboard.press("Control+Z")
    rename(page, QP_VERIFICATION, NEW_NAME)
    validate(page, 2)
    assert page.locator("#validation-problems li").count() == 0
    assert page.locator(".problem-overlay").count() == 0
    assert "deploy would accept" in page.locator("#validation-summary").inner_text()
    page.get_by_role("button", name="Deploy as new version").click()
    deployed = page.locator('#deployed-versions li[data-key="oos_case"]')
    deployed.wait_for()
    assert deployed.get_attribute("data-version") == "2" and "awaiting approval" in deployed.inner_text().lower()
    assert_accessible(page)

    deployed.get_by_role("link").click()
    page.wait_for_selector("#diff[data-compared]", state="attached")
    changed = page.locator(f'#changes tr[data-element-id="{QP_VERIFICATION}"][data-change="changed"]')
    assert f"name: “Verify batch verifications” → “{NEW_NAME}”" in changed.inner_text()
    assert page.locator(f'#diff-current .djs-element.diff-changed[data-element-id="{QP_VERIFICATION}"]').count() == 1
    assert page.locator("#version-status").inner_text().lower() == "awaiting approval"
    assert page.locator("#open-approval").count() == 0, "the designer does not hold QA: no decision form"
    assert_accessible(page)
    screenshot(page, "designer-diff")


def test_qa_approves_a_new_version_with_a_signature_on_its_diff(site: Site, page: Any) -> None:
    # REQ: OOS-24 OOS-25
    from engine.services import definitions
    from engine.services.identity import Actor

    with site.app.uow() as uow:
        version_1 = definitions.get_definition(uow.session, "oos_case", 1)
        files = {f.filename: f.content.encode() for f in definitions.definition_files(uow.session, version_1)}
        files["oos_case.bpmn"] = files["oos_case.bpmn"].replace(b'name="Verify batch verifications"',
                                                                  f'name="{NEW_NAME}"'.encode())
        definitions.deploy(uow.session, site.app.runtime, files,
                           Actor("ines.designer", frozenset({"process_designer"})))
        uow.commit()
    login(page, site, "anna.keller")
    page.goto(f"{site.url}/ui/designer/oos_case/2/diff")
    page.wait_for_selector("#diff[data-compared]", state="attached")
    assert "1 changed" in page.locator("#diff-summary").inner_text()
    page.get_by_role("button", name="Approve and sign…").click()
    dialog = page.get_by_role("dialog")
    assert "I approve" in dialog.inner_text()
    assert_accessible(page)
    dialog.get_by_label("Password").fill("wrong password")
    if dialog.get_by_label(re.compile("User name")).count():
        dialog.get_by_label(re.compile("User name")).fill("anna.keller")
    dialog.get_by_role("button", name="Sign and approve").click()
    expect(page.locator("#decision-error")).to_contain_text("password is wrong")
    from oospath.demo_people import DEMO_PASSWORD

    dialog.get_by_label("Password").fill(DEMO_PASSWORD)
    dialog.get_by_role("button", name="Sign and approve").click()
    page.wait_for_selector("#version-status.approved")
    assert page.locator("#open-approval").count() == 0
    assert "anna.keller" in page.locator(".facts").inner_text()
    assert_accessible(page)


def test_an_auditor_reads_the_designer_but_cannot_validate_deploy_or_decide(site: Site, page: Any) -> None:
    # REQ: OOS-25
    login(page, site, "otto.auditor")
    page.goto(f"{site.url}/ui/designer")
    page.locator('table[data-key="oos_case"] tr[data-version="1"]').get_by_role("link", name=re.compile("View")).click()
    page.wait_for_selector("#modeler[data-loaded]", state="attached")
    assert page.get_by_role("button", name="Validate").count() == 0
    assert page.get_by_role("button", name="Deploy as new version").count() == 0
    assert "Read only" in page.locator("main").inner_text()
    assert_accessible(page)
    page.goto(f"{site.url}/ui/designer/oos_case/1/diff")
    page.wait_for_selector("#diff[data-compared]", state="attached")
    assert "no previous version" in page.locator("#diff-summary").inner_text()
    assert page.locator("#open-approval").count() == 0
    assert_accessible(page)
