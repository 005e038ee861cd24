"""What a newcomer tripped on in the UI (issue 17): the overview's "By job type" table
cut off, a focus box on every heading, labels such as "Duration Ms", a job's detail
opening below the whole list, and a console error for push on every page load."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.browser.conftest import expect
from tests.support.polling import wait_job

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

VIEWS = ["#/jobs", "#/failures", "#/schedules", "#/overview"]
WIDE = {"width": 1400, "height": 900}
PHONE = {"width": 360, "height": 740}


def done(api: httpx.Client, job_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/jobs", json={"job_type": job_type, "payload": payload})
    assert response.status_code == 202, response.text
    return wait_job(api, response.json()["job_id"])


@pytest.fixture
def two_types(api: httpx.Client) -> None:
    """The overview's "By job type" table with rows: an echo and a simulate job."""
    done(api, "echo", {"message": "by type"})
    done(api, "simulate", {"duration_ms": 10, "steps": 1})


def context_page(browser: Any, ui_host: Any, viewport: dict[str, int], **options: Any) -> Any:
    context = browser.new_context(base_url=ui_host.base_url, viewport=viewport, **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "phone"])
def test_the_by_job_type_table_is_shown_whole(
    browser: Any, ui_host: Any, two_types: None, viewport: dict[str, int]
) -> None:
    page = context_page(browser, ui_host, viewport, is_mobile=viewport is PHONE)
    try:
        page.goto("/#/overview")
        table = page.get_by_test_id("by-type").locator("table")
        expect(table).to_contain_text("simulate")
        # Every column is inside the box that shows it: nothing is hidden off its edge.
        sizes = page.get_by_test_id("by-type").evaluate(
            "(box) => [box.scrollWidth, box.clientWidth]"
        )
        assert sizes[0] <= sizes[1], f"the table is {sizes[0]}px wide in a {sizes[1]}px box"
        outside = page.get_by_test_id("by-type").evaluate(
            """(box) => { const edge = box.getBoundingClientRect().right + 0.5;
              return [...box.querySelectorAll("td")]
                .filter((cell) => cell.getBoundingClientRect().right > edge)
                .map((cell) => cell.textContent); }"""
        )
        assert outside == [], f"cells past the box's edge: {outside}"
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], "no sideways scrolling of the page"
    finally:
        page.context.close()


def outline(page: Any) -> str:
    return str(page.evaluate("getComputedStyle(document.activeElement).outlineStyle"))


def test_a_view_change_focuses_its_heading_without_a_focus_ring(page: Any) -> None:
    page.goto("/#/jobs")
    expect(page.get_by_test_id("submit-form")).to_be_visible()
    for name, heading in (("overview", "overview-title"), ("failures", "failures-title")):
        # By mouse and by keyboard: the heading takes focus (screen readers read it) ...
        page.get_by_test_id(f"nav-{name}").click()
        expect(page.locator(f"#{heading}")).to_be_focused()
        assert outline(page) == "none", f"a ring around the {name} heading after a click"
        page.get_by_test_id("nav-jobs").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#jobs-title")).to_be_focused()
        assert outline(page) == "none", "a ring around the Jobs heading after Enter"
    # ... while a control reached by the keyboard keeps its ring.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.matches('select, input, button, a')")
    assert outline(page) == "solid", "keyboard focus is visible"


def test_every_job_types_form_labels_read_as_words(page: Any, api: httpx.Client) -> None:
    types = api.get("/job-types").json()["items"]
    page.goto("/#/jobs")
    select = page.get_by_test_id("job-type-select")
    seen: dict[str, str] = {}
    for job_type in types:
        select.select_option(job_type["job_type"])
        for name in job_type["payload_schema"].get("properties", {}):
            label = page.locator(f'label[for="f-{name}"]')
            text = label.inner_text().replace("*", "").strip()
            seen[name] = text
            # Not the field name title-cased ("Duration Ms", "Country Code").
            if "_" in name:
                assert text != name.title().replace("_", " "), f"{job_type['job_type']}: {text!r}"
            assert "_" not in text and text[:1].isupper(), f"{job_type['job_type']}: {text!r}"
    assert seen["duration_ms"] == "Duration (ms)"
    assert seen["fail_first"] == "Fail first"
    assert seen["country_code"] == "Country code"
    assert seen["message"] == "Message"


def open_from_list(page: Any, job_id: str) -> Any:
    link = page.locator(f'tr[data-job-id="{job_id}"] a')
    link.scroll_into_view_if_needed()
    link.click()
    expect(page).to_have_url(re.compile(rf"#/jobs/{job_id}$"))
    detail = page.get_by_test_id("detail-panel")
    expect(page.get_by_test_id("detail-title")).to_be_focused()
    expect(page.get_by_test_id("detail-title")).to_be_in_viewport()
    return detail


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1400px", "phone"])
def test_a_jobs_detail_opens_where_the_user_sees_it(
    browser: Any, ui_host: Any, api: httpx.Client, viewport: dict[str, int]
) -> None:
    jobs = [done(api, "echo", {"message": f"detail {i}"}) for i in range(12)]
    page = context_page(browser, ui_host, viewport, is_mobile=viewport is PHONE)
    try:
        page.goto("/#/jobs")
        oldest = jobs[0]["job_id"]  # far down the list
        expect(page.locator(f'tr[data-job-id="{oldest}"]')).to_be_visible()
        detail = open_from_list(page, oldest)
        box, table = detail.bounding_box(), page.get_by_test_id("jobs-table").bounding_box()
        # Above the list (beside the form on a wide screen), not below all of it.
        assert box["y"] < table["y"], f"the detail at {box['y']}px, the list at {table['y']}px"
        if viewport is WIDE:
            form = page.get_by_test_id("submit-form").bounding_box()
            assert box["x"] > form["x"] + form["width"], "beside the form"
            assert box["y"] < viewport["height"], "its top on the first screen"
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], "no sideways scrolling"
        # The keyboard: Escape closes it and gives focus back to the row.
        page.keyboard.press("Escape")
        expect(detail).to_be_hidden()
        expect(page.locator(f'tr[data-job-id="{oldest}"] a')).to_be_focused()
    finally:
        page.context.close()


def console_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def load_each_view(page: Any, mode: str = "polling") -> None:
    """Each view, opened and reloaded in one tab, until its live mode shows ``mode``."""
    for view in VIEWS:
        for _ in range(2):
            if _:
                page.reload()
            else:
                page.goto(f"/{view}")
            expect(page.get_by_test_id("health")).to_have_text("API reachable")
            expect(page.get_by_test_id("live-mode")).to_contain_text(mode)
            page.wait_for_timeout(500)


def negotiations(page: Any) -> list[str]:
    return [url for url in page.requests if url.endswith("/api/negotiate")]


def test_a_server_without_push_is_asked_once_per_tab(page: Any) -> None:
    """A server with no negotiate function (404): the tab remembers it."""
    page.route("**/api/negotiate", lambda route: route.fulfill(status=404))
    load_each_view(page)
    assert len(negotiations(page)) == 1, negotiations(page)


def test_a_server_that_says_it_has_no_push_costs_no_console_error(page: Any) -> None:
    """204 No Content from negotiate: no push here, said without an error."""
    answered: list[int] = []

    def no_push(route: Any) -> None:
        answered.append(204)
        route.fulfill(status=204)

    page.route("**/api/negotiate", no_push)
    errors = console_errors(page)
    load_each_view(page)
    assert answered == [204], "asked once in the tab"
    assert errors == [], f"console errors: {errors}"
    expect(page.get_by_test_id("live-mode")).not_to_contain_text("unavailable")


def test_no_console_error_on_loading_each_view_of_the_local_host(page: Any) -> None:
    """Each view, loaded and reloaded, connects to the local host's SignalR hub."""
    errors = console_errors(page)
    load_each_view(page, "pushed (SignalR)")
    assert errors == [], f"console errors: {errors}"
