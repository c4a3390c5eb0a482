"""What every page of the console and the portal shares: sessions, CSRF, headers, rendering.

``Web`` holds the per-gateway pieces (templates, the session signer, the admin API client);
``Page`` is one request's view of them: the signed-in caller, its CSRF token, and helpers to
call the admin API and render a template. Handlers receive a ``Page`` from ``signed_in``,
which redirects to the sign-in form when there is no valid session and refuses a POST whose
CSRF token is missing or wrong.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from lockgate.identity.iprules import Networks, parse_ip
from lockgate.identity.principal import AdminPrincipal

from .adminapi import AdminApi, AdminApiError
from .session import SESSION_COOKIE, Session, Signer, cookie_header
from .signouts import MemorySignOuts, SignOuts

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
MAX_FORM_BYTES = 256 * 1024
CONSOLE_ROLES = frozenset({"platform-admin", "tenant-admin", "auditor"})
PORTAL_ROLES = frozenset({"platform-admin", "tenant-admin", "developer"})


@dataclass(frozen=True, slots=True)
class Area:
    """``/console`` or ``/portal``: its home, who may use it, where the others go."""

    name: str
    home: str
    roles: Collection[str]
    elsewhere: str  # where a signed-in caller of another role is sent


CONSOLE = Area("console", "/console", CONSOLE_ROLES, "/portal")
PORTAL = Area("portal", "/portal", PORTAL_ROLES, "/console")


@dataclass
class Web:
    admin: AdminApi
    signer: Signer
    admin_by_id: Callable[[str], AdminPrincipal | None]
    admin_lookup: Callable[[str], AdminPrincipal | None]
    clock: Callable[[], float] = time.time
    trusted_proxies: Callable[[], Networks | None] = lambda: None
    signouts: SignOuts = field(default_factory=MemorySignOuts)
    env: Environment = field(
        default_factory=lambda: Environment(
            loader=PackageLoader("lockgate.ui", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )

    def __post_init__(self) -> None:
        self.env.filters["when"] = when

    def html(self, template: str, status: int = 200, **values: Any) -> Response:
        context = {"caller": None, "page": None, "csrf": "", "path": "", **values}
        body = self.env.get_template(template).render(**context)
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)

    def secure(self, request: Request) -> bool:
        """Served over TLS: by this gateway, or by a proxy in ``server.trusted_proxies`` that
        says so (``X-Forwarded-Proto: https``); then cookies are ``Secure``."""
        if request.url.scheme == "https":
            return True
        trusted = self.trusted_proxies()
        peer = parse_ip(request.client.host) if request.client is not None else None
        if trusted is None or peer is None or peer not in trusted:
            return False
        return request.headers.get("x-forwarded-proto", "").strip().lower() == "https"

    async def session(self, request: Request) -> tuple[Session, AdminPrincipal] | None:
        session = self.signer.read(request.cookies.get(SESSION_COOKIE), self.clock())
        if session is None:
            return None
        caller = self.admin_by_id(session.key_id)
        if caller is None or await self.signouts.ended(session.nonce):
            return None
        return session, caller


def when(value: Any) -> str:
    """An ISO 8601 time as "2026-12-02 11:13" (UTC, to the minute); other values as text."""
    text = str(value or "")
    return text[:16].replace("T", " ") if len(text) >= 16 and text[10] == "T" else text


def redirect(url: str, request: Request | None = None) -> Response:
    """303 to ``url``; an htmx request is told to navigate instead (it would swap the page)."""
    headers = dict(SECURITY_HEADERS)
    if request is not None and request.headers.get("hx-request") == "true":
        headers["hx-redirect"] = url
        return Response(status_code=204, headers=headers)
    return RedirectResponse(url, status_code=303, headers=headers)


def clear_session(web: Web, response: Response, request: Request) -> Response:
    name, value = cookie_header(SESSION_COOKIE, "", max_age=0, secure=web.secure(request))
    response.raw_headers.append((name, value))
    return response


async def read_form(request: Request) -> dict[str, str] | None:
    """A url-encoded form (first value per name), or None when it is too large or not one."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    size = 0
    parts: list[bytes] = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        parts.append(chunk)
    pairs = parse_qsl(b"".join(parts).decode("utf-8", "replace"), keep_blank_values=True)
    form: dict[str, str] = {}
    for k, v in pairs:
        form.setdefault(k, v.strip())
    return form


@dataclass
class Page:
    web: Web
    area: Area
    request: Request
    session: Session
    caller: AdminPrincipal
    form: dict[str, str] = field(default_factory=dict)

    @property
    def csrf(self) -> str:
        return self.web.signer.csrf(self.session.cookie)

    @property
    def can_write(self) -> bool:
        return self.caller.role != "auditor"

    @property
    def platform(self) -> bool:
        return self.caller.role == "platform-admin"

    def arg(self, name: str) -> str:
        return self.request.query_params.get(name, "").strip()

    async def api(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | None] | None = None,
        body: Any = None,
    ) -> Any:
        return await self.web.admin.call(self.caller, method, path, query=query, body=body)

    async def data(self, path: str, **query: str | None) -> list[dict[str, Any]]:
        found = await self.api("GET", path, query=query)
        rows = found.get("data", found.get("rows")) if isinstance(found, dict) else None
        return list(rows) if isinstance(rows, list) else []

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        return self.web.html(
            template,
            status,
            page=self,
            area=self.area,
            caller=self.caller,
            csrf=self.csrf,
            path=self.request.url.path,
            **values,
        )

    def problem(self, err: AdminApiError) -> Response:
        """The admin API's refusal as a page: 404 stays 404 (another tenant's object)."""
        if err.status == 404:
            return self.render("not_found.html", 404, message=err.message)
        return self.render("error.html", err.status, message=err.message)


Handler = Callable[[Page], Awaitable[Response]]


def sign_in_url(area: Area, request: Request) -> str:
    """The sign-in form, which comes back to this page (its query included) afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{area.home}/sign-in?next={quote(target, safe='/')}"


def signed_in(web: Web, area: Area, handler: Handler, *, write: bool = False) -> Any:
    """A Starlette endpoint: session check, area and role check, CSRF on POST, then ``handler``.

    ``write``: the handler changes something, so an auditor is refused before it runs (the
    admin API would refuse too; this keeps the refusal a page rather than an error)."""

    async def endpoint(request: Request) -> Response:
        found = await web.session(request)
        if found is None:
            if request.method != "GET":
                return clear_session(
                    web, web.html("error.html", 401, **_bare(area, SIGNED_OUT)), request
                )
            return clear_session(web, redirect(sign_in_url(area, request), request), request)
        session, caller = found
        if caller.role not in area.roles:
            return redirect(area.elsewhere, request)
        page = Page(web, area, request, session, caller)
        if request.method == "POST":
            form = await read_form(request)
            if form is None or not web.signer.check_csrf(session.cookie, form.get("csrf")):
                return page.render("error.html", 403, message=CSRF_REFUSED)
            page.form = form
            if write and not page.can_write:
                return page.render("error.html", 403, message=READ_ONLY)
        try:
            return await handler(page)
        except AdminApiError as err:
            return page.problem(err)

    return endpoint


SIGNED_OUT = "Your session has ended. Sign in again."
CSRF_REFUSED = (
    "This form is out of date or was not sent by this site (CSRF check)."
    " Reload the page and try again."
)
READ_ONLY = "An auditor key is read-only: it cannot change anything."


def _bare(area: Area, message: str) -> dict[str, Any]:
    return {"area": area, "message": message}


def choices(rows: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    return sorted({str(r[key]) for r in rows if r.get(key) is not None})
