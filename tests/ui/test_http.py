"""The console and the portal over plain HTTP: sessions, CSRF, roles, escaping, headers."""

from __future__ import annotations

import re

import httpx
from ui_harness import HOSTILE, Seed, csrf_of, signed_in


def test_a_page_without_a_session_redirects_to_the_sign_in_form(seed: Seed) -> None:
    for area, page in (("console", "/console/tenants"), ("portal", "/portal/apps")):
        r = httpx.get(seed.base + page)
        assert r.status_code == 303
        assert r.headers["location"] == f"/{area}/sign-in?next={page}"
        form = httpx.get(seed.base + r.headers["location"]).text
        assert '<label for="key">Key</label>' in form
        assert ">Sign in</button>" in form


def test_the_session_cookie_is_httponly_samesite_strict_and_expires(seed: Seed) -> None:
    c = httpx.Client(base_url=seed.base)
    token = csrf_of(c.get("/console/sign-in").text)
    r = c.post("/console/sign-in", data={"csrf": token, "key": seed.keys["platform"]})
    assert r.status_code == 303 and r.headers["location"] == "/console"
    [session] = [h for h in r.headers.get_list("set-cookie") if h.startswith("lockgate_session=")]
    flags = [f.strip() for f in session.split(";")]
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Path=/" in flags
    assert "Max-Age=28800" in flags
    assert "Secure" not in flags  # plain HTTP here; under TLS the cookie is Secure
    assert seed.keys["platform"] not in session  # the cookie names the key, never its secret
    assert c.get("/console/tenants").status_code == 200


def test_a_tampered_or_foreign_cookie_is_no_session(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    cookie = c.cookies["lockgate_session"]
    body, sig = cookie.split(".")
    for forged in (f"{body}.{sig[:-2]}AA", f"{body}x.{sig}", "garbage", ""):
        r = httpx.get(seed.base + "/console/tenants", cookies={"lockgate_session": forged})
        assert r.status_code == 303, forged


def test_sign_in_with_an_unknown_key_is_refused(seed: Seed) -> None:
    c = httpx.Client(base_url=seed.base)
    token = csrf_of(c.get("/console/sign-in").text)
    r = c.post("/console/sign-in", data={"csrf": token, "key": "lg-not-a-key"})
    assert r.status_code == 401
    assert "not a valid admin key" in r.text
    assert "lockgate_session" not in c.cookies


def test_sign_in_without_its_csrf_token_is_refused(seed: Seed) -> None:
    c = httpx.Client(base_url=seed.base)
    c.get("/console/sign-in")
    r = c.post("/console/sign-in", data={"key": seed.keys["platform"]})
    assert r.status_code == 403
    assert "lockgate_session" not in c.cookies


def test_sign_in_never_redirects_off_site(seed: Seed) -> None:
    c = httpx.Client(base_url=seed.base)
    token = csrf_of(c.get("/console/sign-in").text)
    data = {"csrf": token, "key": seed.keys["platform"], "next": "//evil.example/console"}
    r = c.post("/console/sign-in", data=data)
    assert r.headers["location"] == "/console"


def test_a_post_without_the_csrf_token_is_refused(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    r = c.post("/console/tenants", data={"name": "csrf-victim"})
    assert r.status_code == 403
    assert "CSRF" in r.text
    other = signed_in(seed, seed.keys["platform"])  # another session's token is no better
    foreign = csrf_of(other.get("/console/tenants").text)
    r = c.post("/console/tenants", data={"name": "csrf-victim", "csrf": foreign})
    assert r.status_code == 403
    with seed.admin() as a:
        assert a.get("/tenants/csrf-victim").status_code == 404
    r = c.post("/console/sign-out", data={})
    assert r.status_code == 403  # even signing out needs the token


def test_an_auditor_sees_no_forms_and_its_posts_are_refused(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["auditor"])
    for page in ("/console/tenants", "/console/tenants/acme", "/console/subscriptions",
                 f"/console/apps/{seed.apps['acme/bot']}", "/console/apis/summarize"):  # fmt: skip
        html = c.get(page).text
        posts = re.findall(r'<form method="post" action="([^"]+)"', html)
        assert posts == ["/console/sign-out"], (page, posts)
    token = csrf_of(c.get("/console/tenants").text)
    r = c.post("/console/tenants/acme/apps", data={"csrf": token, "name": "by-auditor"})
    assert r.status_code == 403
    assert "read-only" in r.text
    with seed.admin() as a:
        names = [x["name"] for x in a.get("/tenants/acme/apps").json()["data"]]
    assert "by-auditor" not in names
    assert c.get("/console/audit").status_code == 200


def test_a_tenant_admin_gets_404_for_another_tenants_pages(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["acme-admin"])
    assert c.get("/console/tenants/acme").status_code == 200
    for page in ("/console/tenants/globex", f"/console/apps/{seed.apps['globex/crm']}",
                 "/console/tenants/no-such-tenant"):  # fmt: skip
        r = c.get(page)
        assert r.status_code == 404, page
        assert "globex" not in r.text.split("<main", 1)[1] or page.endswith("globex")
    tenants = c.get("/console/tenants").text
    assert "/console/tenants/acme" in tenants and "/console/tenants/globex" not in tenants
    token = csrf_of(tenants)
    r = c.post("/console/tenants/globex/apps", data={"csrf": token, "name": "intruder"})
    assert r.status_code == 404


def test_a_tenant_name_cannot_carry_markup(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    token = csrf_of(c.get("/console/tenants").text)
    r = c.post("/console/tenants", data={"csrf": token, "name": HOSTILE})
    assert r.status_code == 400  # the admin API's own rule, shown on the page
    assert "name must be" in r.text and HOSTILE not in r.text


def test_hostile_text_is_rendered_as_text(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    pages = {
        f"/console/apps/{seed.apps['acme/bot']}": "a key's name",
        "/console/apis/summarize": "an API's description",
        "/console/requests": "a requested model's name",
        "/console/usage?by=model": "a chart's series",
    }
    for page, what in pages.items():
        html = c.get(page).text
        assert HOSTILE not in html, what
        assert escaped in html, what
    portal = signed_in(seed, seed.keys["developer"], "portal")
    html = portal.get("/portal/apis/summarize").text
    assert HOSTILE not in html and escaped in html


def test_pages_carry_a_csp_without_inline_script_or_style(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    for page in ("/console", "/console/usage", "/console/audit", "/portal", "/portal/apps"):
        r = c.get(page)
        assert r.status_code == 200, page
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), page  # no inline script
        assert not re.search(r"\sstyle=", r.text), page  # no inline style
        assert not re.search(r"\son[a-z]+=", r.text), page  # no inline event handler


def test_sign_out_ends_the_session(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    cookie = c.cookies["lockgate_session"]
    token = csrf_of(c.get("/console").text)
    r = c.post("/console/sign-out", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/sign-in?signed_out=1"
    assert "lockgate_session=;" in r.headers["set-cookie"]  # the browser drops it
    assert c.get("/console/tenants").status_code == 303
    copy = httpx.get(seed.base + "/console/tenants", cookies={"lockgate_session": cookie})
    assert copy.status_code == 303  # and a copy of the cookie is no good either


def test_revoking_the_admin_key_ends_its_sessions(seed: Seed) -> None:
    with seed.admin() as a:
        made = a.post("/admin-keys", json={"role": "auditor", "tenant": "acme"}).json()
        c = signed_in(seed, made["key"])
        assert c.get("/console/tenants").status_code == 200
        assert a.delete(f"/admin-keys/{made['id']}").status_code == 204
    assert c.get("/console/tenants").status_code == 303


def test_each_role_lands_in_its_own_area(seed: Seed) -> None:
    dev = signed_in(seed, seed.keys["developer"], "portal")
    assert dev.get("/portal").status_code == 200
    r = dev.get("/console/tenants")
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    auditor = signed_in(seed, seed.keys["auditor"])
    r = auditor.get("/portal")
    assert r.status_code == 303 and r.headers["location"] == "/console"


def test_console_actions_are_in_the_audit_log(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["acme-admin"])
    token = csrf_of(c.get("/console/tenants/acme").text)
    r = c.post("/console/tenants/acme/apps", data={"csrf": token, "name": "audited-app"})
    assert r.status_code == 303
    app_id = r.headers["location"].rsplit("/", 1)[1]
    with seed.admin() as a:
        rows = a.get("/audit", params={"tenant": "acme", "limit": 50}).json()["rows"]
    [entry] = [e for e in rows if (e.get("after") or {}).get("id") == app_id]
    assert entry["actor"] != "bootstrap" and entry["role"] == "tenant-admin"


def test_an_unknown_page_is_a_404_page_with_the_same_headers(seed: Seed) -> None:
    r = httpx.get(seed.base + "/console/no/such/page")
    assert r.status_code == 404 and "There is no such page." in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert httpx.get(seed.base + "/ui/static/nothing.js").status_code == 404


def test_rotating_a_key_shows_the_new_secret_once(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["acme-admin"])
    page = f"/console/apps/{seed.apps['acme/bot']}"
    html = c.get(page).text
    key_id = re.findall(r'action="/console/keys/([^/"]+)/rotate"', html)[0]
    r = c.post(f"/console/keys/{key_id}/rotate", data={"csrf": csrf_of(html)})
    assert r.status_code == 201
    secret = re.search(r'<output id="new-secret"[^>]*>(lg-[^<]+)</output>', r.text)
    assert secret is not None and f"It replaces key <code>{key_id}</code>" in r.text
    ok = httpx.get(seed.base + "/v1/models", headers={"authorization": f"Bearer {secret[1]}"})
    assert ok.status_code == 200
    assert secret[1] not in c.get(page).text


def test_request_detail_and_limits_pages(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["acme-admin"])
    html = c.get("/console/requests").text
    ids = re.findall(r'href="/console/requests/([^"]+)"', html)
    assert ids
    detail = c.get(f"/console/requests/{ids[0]}")
    assert detail.status_code == 200 and "served_model" in detail.text
    with seed.admin() as a:
        foreign = a.get("/requests", params={"tenant": "globex", "limit": 1}).json()["rows"][0]
    assert c.get(f"/console/requests/{foreign['id']}").status_code == 404
    limits = c.get("/console/limits", params={"app": seed.apps["acme/bot"]})
    assert limits.status_code == 200 and "Limits in use" in limits.text
    assert c.get("/console/limits", params={"tenant": "globex"}).status_code == 404


def test_a_key_with_an_expiry_and_deleting_an_app(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    token = csrf_of(c.get("/console/tenants/globex").text)
    r = c.post("/console/tenants/globex/apps", data={"csrf": token, "name": "short-lived"})
    app_page = r.headers["location"]
    r = c.post(f"{app_page}/keys", data={"csrf": token, "name": "", "expires": "2030-01-31"})
    assert r.status_code == 201 and "2030-01-31 00:00" in r.text
    secret = re.search(r'<output id="new-secret"[^>]*>(lg-[^<]+)</output>', r.text)
    assert secret is not None
    headers = {"authorization": f"Bearer {secret[1]}"}
    assert httpx.get(seed.base + "/v1/models", headers=headers).status_code == 200
    r = c.post(f"{app_page}/delete", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/console/tenants/globex"
    assert c.get(app_page).status_code == 404
    assert httpx.get(seed.base + "/v1/models", headers=headers).status_code == 401


def test_a_refused_change_is_shown_on_its_page(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    token = csrf_of(c.get("/console/tenants/globex").text)
    r = c.post("/console/tenants/globex/plan", data={"csrf": token, "plan": "gold"})
    assert r.status_code == 400
    assert "Refused:" in r.text and "unknown plan" in r.text and "<h1>Tenant globex</h1>" in r.text
    r = c.post("/console/tenants/globex/plan", data={"csrf": token, "plan": ""})
    assert r.status_code == 303
    tenant_admin = signed_in(seed, seed.keys["acme-admin"])
    token = csrf_of(tenant_admin.get("/console/tenants/acme").text)
    r = tenant_admin.post("/console/tenants/acme/plan", data={"csrf": token, "plan": ""})
    assert r.status_code == 403  # tenants are platform-admin's to change


def test_the_request_log_pages_back(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    first = c.get("/console/requests").text
    assert "Older requests" not in first  # fewer than a page of calls in the seed
    with seed.admin() as a:
        page = a.get("/requests", params={"limit": 2}).json()
    assert page["next_cursor"]
    html = c.get("/console/requests", params={"cursor": page["next_cursor"]}).text
    assert page["rows"][0]["id"] not in html  # the newer calls are on the first page


def test_sign_in_comes_back_to_the_page_asked_for(seed: Seed) -> None:
    c = httpx.Client(base_url=seed.base)
    r = c.get("/console/requests", params={"tenant": "acme", "status": "4xx"})
    assert (
        r.headers["location"]
        == "/console/sign-in?next=/console/requests%3Ftenant%3Dacme%26status%3D4xx"
    )
    form = c.get(r.headers["location"]).text
    assert 'name="next" value="/console/requests?tenant=acme&amp;status=4xx"' in form
    data = {
        "csrf": csrf_of(form),
        "key": seed.keys["platform"],
        "next": "/console/requests?tenant=acme&status=4xx",
    }
    r = c.post("/console/sign-in", data=data)
    assert r.headers["location"] == "/console/requests?tenant=acme&status=4xx"


def test_the_portal_serves_each_versions_openapi_document(seed: Seed) -> None:
    dev = signed_in(seed, seed.keys["developer"], "portal")
    r = dev.get("/portal/apis/summarize/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.") and "/apis/summarize/v1" in doc["paths"]
    assert dev.get("/portal/apis/summarize/v9/openapi.json").status_code == 404
    assert dev.get("/portal/apis/nothing/v1/openapi.json").status_code == 404
    assert httpx.get(seed.base + "/portal/apis/summarize/v1/openapi.json").status_code == 303


def test_a_rejection_and_its_reason_reach_the_developer(seed: Seed) -> None:
    with seed.admin(seed.keys["developer"]) as d:
        app = d.post("/tenants/acme/apps", json={"name": "rejected-app"}).json()
    dev = signed_in(seed, seed.keys["developer"], "portal")
    page = f"/portal/apps/{app['id']}"
    token = csrf_of(dev.get(page).text)
    r = dev.post(f"{page}/subscribe", data={"csrf": token, "api": "summarize", "reason": "r"})
    assert r.status_code == 303
    admin = signed_in(seed, seed.keys["acme-admin"])
    html = admin.get("/console/subscriptions").text
    sub_id = re.search(
        r'/console/subscriptions/([^/]+)/reject" class="secondary" aria-label="Reject rejected-app',
        html,
    )
    assert sub_id is not None
    r = admin.post(
        f"/console/subscriptions/{sub_id[1]}/reject",
        data={"csrf": csrf_of(html), "reason": "not for bots"},
    )
    assert r.status_code == 303
    html = dev.get(page).text
    assert 'data-subscription="summarize">rejected</span>' in html and "not for bots" in html


def test_a_platform_admin_sets_an_apps_roles_and_deletes_a_tenant(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    token = csrf_of(c.get("/console/tenants").text)
    assert c.post("/console/tenants", data={"csrf": token, "name": "doomed"}).status_code == 303
    r = c.post("/console/tenants/doomed/apps", data={"csrf": token, "name": "a1"})
    app_page = r.headers["location"]
    r = c.post(f"{app_page}/policy", data={"csrf": token, "plan": "", "roles": "support, beta"})
    assert r.status_code == 303
    with seed.admin() as a:
        assert a.get(f"/apps/{app_page.rsplit('/', 1)[1]}").json()["roles"] == ["support", "beta"]
    r = c.post("/console/tenants/doomed/delete", data={"csrf": token})
    assert r.status_code == 409 and "Refused:" in r.text  # it still has an app
    r = c.post("/console/tenants/doomed/delete", data={"csrf": token, "cascade": "yes"})
    assert r.status_code == 303 and r.headers["location"] == "/console/tenants"
    assert c.get("/console/tenants/doomed").status_code == 404


def test_the_catalog_lists_the_models_each_app_may_call(seed: Seed) -> None:
    with seed.admin(seed.keys["developer"]) as d:
        d.post("/tenants/acme/apps", json={"name": "catalog-app"}).raise_for_status()
    html = signed_in(seed, seed.keys["developer"], "portal").get("/portal").text
    article = html.split(">catalog-app</a>", 1)[1].split("</article>", 1)[0]
    assert "<code>demo-chat</code>" in article  # the tenant's plan "narrow" (no plan of its own)
    assert "demo-fast" not in article


def test_a_developer_sees_only_the_apps_it_created(seed: Seed) -> None:
    with seed.admin() as a:
        other = a.post("/admin-keys", json={"role": "developer", "tenant": "acme"}).json()["key"]
    with seed.admin(seed.keys["developer"]) as d:
        mine = d.post("/tenants/acme/apps", json={"name": "private-app"}).json()
    them = signed_in(seed, other, "portal")
    assert them.get(f"/portal/apps/{mine['id']}").status_code == 404
    assert them.get(f"/portal/apps/{seed.apps['acme/bot']}").status_code == 404  # an admin's
    assert "private-app" not in them.get("/portal/apps").text
    token = csrf_of(them.get("/portal/apps").text)
    r = them.post(f"/portal/apps/{mine['id']}/keys", data={"csrf": token})
    assert r.status_code == 404
    owner = signed_in(seed, seed.keys["developer"], "portal")
    assert owner.get(f"/portal/apps/{mine['id']}").status_code == 200


def test_the_request_log_filters_by_time(seed: Seed) -> None:
    c = signed_in(seed, seed.keys["platform"])
    assert "No requests match." in c.get("/console/requests", params={"to": "2001-01-01"}).text
    assert (
        "No requests match." not in c.get("/console/requests", params={"from": "2001-01-01"}).text
    )
    r = c.get("/console/requests", params={"from": "yesterday"})
    assert r.status_code == 400 and "from: not a time" in r.text and "Refused:" in r.text
