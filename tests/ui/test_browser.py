"""The console and the portal in Chromium (Playwright), as a person would use them.

Every context fails its test on a CSP violation, a script error or a dialog (``Browsing``);
screenshots of the main pages land in ``tests/ui/.artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from ui_harness import HOSTILE, Browsing, Seed

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

Open = Callable[..., Browsing]


def test_sign_in_with_the_keyboard_and_sign_out(browsing: Open, seed: Seed) -> None:
    b = browsing()
    page = b.page
    page.goto("/console/tenants")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next=/console/tenants$"))
    b.shot("console-sign-in")
    page.keyboard.type(seed.keys["platform"])  # the Key field has the focus
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Tenants")).to_be_visible()
    page.goto("/console")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    b.shot("console-overview")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/console/tenants")
    expect(page.get_by_label("Key")).to_be_visible()


def test_create_a_tenant_an_app_and_a_key(browsing: Open, seed: Seed) -> None:
    b = browsing()
    page = b.page
    b.sign_in(seed.keys["platform"])
    page.get_by_role("link", name="Tenants").click()
    page.get_by_label("Tenant name").fill("initech")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Tenant initech")).to_be_visible()
    page.get_by_label("App name").fill("robot")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="App robot")).to_be_visible()
    page.get_by_label("Key name (optional)").fill("ci")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("New key secret").inner_text().strip()
    assert secret.startswith("lg-")
    b.shot("console-app-new-key")
    r = httpx.get(seed.base + "/v1/models", headers={"authorization": f"Bearer {secret}"})
    assert r.status_code == 200  # the key made in the browser works on the data plane
    page.goto(page.url)  # the app's page again (a reload would post the form again)
    assert secret not in page.content()  # shown once
    page.get_by_role("button", name=re.compile("^Revoke key")).click()
    expect(page.get_by_text("revoked", exact=True)).to_be_visible()


def test_a_tenant_admin_cannot_reach_another_tenants_pages(browsing: Open, seed: Seed) -> None:
    b = browsing()
    page = b.page
    b.sign_in(seed.keys["acme-admin"])
    page.get_by_role("link", name="Tenants").click()
    expect(page.get_by_role("link", name="acme")).to_be_visible()
    expect(page.get_by_role("link", name="globex")).to_have_count(0)
    for path in ("/console/tenants/globex", f"/console/apps/{seed.apps['globex/crm']}"):
        response = page.goto(path)
        assert response is not None and response.status == 404
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    b.expect_problems("status of 404")  # the two pages above, nothing else


def test_subscribe_in_the_portal_approve_in_the_console(browsing: Open, seed: Seed) -> None:
    dev = browsing()
    d = dev.page
    dev.sign_in(seed.keys["developer"], "portal")
    expect(d.get_by_role("heading", name="Catalog")).to_be_visible()
    dev.shot("portal-catalog")
    d.get_by_role("link", name="summarize").click()
    expect(d.get_by_role("heading", name="API summarize")).to_be_visible()
    dev.shot("portal-api")
    d.get_by_role("navigation", name="Main").get_by_role("link", name="My apps").click()
    d.get_by_label("App name").fill("reader")
    d.get_by_role("button", name="Create").click()
    expect(d.get_by_role("heading", name="App reader")).to_be_visible()
    d.get_by_role("button", name="Create key").click()
    secret = d.get_by_label("New key secret").inner_text().strip()
    d.get_by_label("API").select_option("summarize")
    d.get_by_label("Reason").fill("summaries for the help desk")
    d.get_by_role("button", name="Subscribe").click()
    status = d.locator('[data-subscription="summarize"]')
    expect(status).to_have_text("pending")
    call = {"text": "Lockgate is an AI gateway."}
    headers = {"authorization": f"Bearer {secret}"}
    r = httpx.post(seed.base + "/apis/summarize/v1", json=call, headers=headers)
    assert r.status_code == 403  # not before an admin approves

    admin = browsing()
    a = admin.page
    admin.sign_in(seed.keys["acme-admin"])
    a.get_by_role("link", name="Subscriptions").click()
    admin.shot("console-subscriptions")
    a.get_by_role("textbox", name="Reason for reader / summarize").fill("fine by us")
    a.get_by_role("button", name="Approve reader / summarize").click()
    expect(a.get_by_role("button", name="Approve reader / summarize")).to_have_count(0)

    d.reload()
    expect(status).to_have_text("active")
    dev.shot("portal-app")
    r = httpx.post(seed.base + "/apis/summarize/v1", json=call, headers=headers)
    assert r.status_code == 200, r.text


def test_a_post_without_the_csrf_token_is_refused(browsing: Open, seed: Seed) -> None:
    b = browsing()
    b.sign_in(seed.keys["platform"])
    r = b.page.request.post("/console/tenants", form={"name": "no-csrf"})  # session cookie sent
    assert r.status == 403
    with seed.admin() as a:
        assert a.get("/tenants/no-csrf").status_code == 404


def test_hostile_text_is_shown_as_text(browsing: Open, seed: Seed) -> None:
    b = browsing()
    page = b.page
    b.sign_in(seed.keys["platform"])
    page.goto(f"/console/apps/{seed.apps['acme/bot']}")
    expect(page.get_by_role("cell", name=HOSTILE).first).to_be_visible()
    page.goto("/console/requests")
    expect(page.get_by_role("cell", name=HOSTILE).first).to_be_visible()
    b.shot("console-requests")
    # Browsing.close() fails the test if a dialog opened or a script error happened


def test_console_pages_render_without_csp_violations(browsing: Open, seed: Seed) -> None:
    b = browsing()
    page = b.page
    b.sign_in(seed.keys["platform"])
    for path, heading in (
        ("/console/usage", "Usage"),
        ("/console/deployments", "Deployments' health"),
        ("/console/audit", "Audit log"),
        ("/console/limits?tenant=acme", "Limits in use"),
        ("/console/apis/summarize", "API summarize"),
    ):
        page.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        b.shot("console-" + path.split("/")[2].split("?")[0])
    page.goto("/console/usage")
    page.get_by_label("By", exact=True).select_option("model")  # htmx swaps the charts in place
    expect(page).to_have_url(re.compile(r"by=model"))
    expect(page.get_by_role("img", name="Requests per day by model")).to_be_visible()
    page.goto("/console/audit")
    page.get_by_role("button", name="Verify chain").click()
    expect(page.get_by_text("Chain verified")).to_be_visible()


def test_readable_at_a_phone_width(browsing: Open, seed: Seed) -> None:
    b = browsing(390, 844)
    page = b.page
    b.sign_in(seed.keys["developer"], "portal")
    for path in ("/portal", "/portal/apps", "/portal/usage"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    b.shot("portal-usage-phone")


def test_an_api_product_through_its_lifecycle(browsing: Open, seed: Seed) -> None:
    b = browsing()
    page = b.page
    b.sign_in(seed.keys["acme-admin"])
    page.get_by_role("link", name="APIs").click()
    page.get_by_label("API name").fill("translate")
    page.get_by_label("Approval").select_option("auto")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="API translate")).to_be_visible()
    page.get_by_label("Model").fill("demo-chat")
    page.get_by_label("Template").fill("Translate to French: {{ text }}")
    page.get_by_role("button", name="Create").click()
    row = page.get_by_role("row", name=re.compile("^v1"))
    expect(row).to_contain_text("draft")
    page.get_by_role("button", name="Publish v1").click()
    expect(row).to_contain_text("published")
    page.get_by_label("Sunset date of v1").fill("2030-01-31")
    page.get_by_role("button", name="Deprecate v1").click()
    expect(row).to_contain_text("deprecated")
    expect(row).to_contain_text("2030-01-31")
    b.shot("console-api-lifecycle")
    with seed.admin() as a:
        assert a.get("/apis/translate").json()["versions"][0]["status"] == "deprecated"


def test_a_tenant_admin_hands_out_a_developer_key(browsing: Open, seed: Seed) -> None:
    admin = browsing()
    a = admin.page
    admin.sign_in(seed.keys["acme-admin"])
    a.get_by_role("link", name="Admin keys").click()
    a.get_by_label("Role").select_option("developer")
    a.get_by_role("button", name="Create key").click()
    secret = a.get_by_label("New admin key secret").inner_text().strip()
    heading = a.get_by_role("heading", name=re.compile("^New developer key")).inner_text()
    prefix = heading.rsplit(" ", 1)[1]
    assert secret.startswith(prefix)
    admin.shot("console-admin-keys")

    dev = browsing()
    dev.sign_in(secret, "console")  # a developer key signing in at the console...
    expect(dev.page).to_have_url(re.compile(r"/portal$"))  # ...lands in the portal
    expect(dev.page.get_by_text("developer · acme")).to_be_visible()

    a.goto("/console/admin-keys")
    row = a.get_by_role("row").filter(has_text=prefix)
    row.get_by_role("button", name=re.compile("^Revoke admin key")).click()
    expect(row).to_contain_text("revoked")
    dev.page.goto("/portal/apps")
    expect(dev.page.get_by_label("Key")).to_be_visible()  # its session ended with the key
