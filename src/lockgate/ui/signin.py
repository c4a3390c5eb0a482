"""Sign-in and sign-out: a form with a "Key" field and a "Sign in" button.

The key is checked against the same index the admin API uses; the session cookie then names
the key by its id (see ``session``). The sign-in form carries a CSRF token bound to a random
pre-session cookie, so another site cannot sign a browser in with a key of its choosing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from .session import PRESESSION_COOKIE, SESSION_COOKIE, cookie_header, new_presession
from .web import CONSOLE, PORTAL, Area, Web, clear_session, read_form, redirect

Endpoint = Callable[[Request], Awaitable[Response]]
PRESESSION_TTL = 3600
UNKNOWN_KEY = "That key is not a valid admin key (or it was revoked)."


def _next(area: Area, target: str | None) -> str:
    """Only a path inside the console or the portal: never an open redirect."""
    if target and not target.startswith("//") and "\\" not in target:
        for home in (CONSOLE.home, PORTAL.home):
            if target == home or target.startswith(home + "/"):
                return target
    return area.home


def _form(web: Web, area: Area, request: Request, status: int, error: str | None) -> Response:
    pre = new_presession()
    response = web.html(
        "sign_in.html",
        status,
        area=area,
        caller=None,
        page=None,
        csrf=web.signer.csrf(pre),
        next=_next(area, request.query_params.get("next")),
        error=error,
        signed_out=request.query_params.get("signed_out") == "1",
    )
    response.raw_headers.append(
        cookie_header(PRESESSION_COOKIE, pre, max_age=PRESESSION_TTL, secure=web.secure(request))
    )
    return response


def sign_in_endpoint(web: Web, area: Area) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        if request.method == "GET":
            found = await web.session(request)
            if found is not None and found[1].role in area.roles:
                return redirect(area.home)
            return _form(web, area, request, 200, None)
        form = await read_form(request)
        pre = request.cookies.get(PRESESSION_COOKIE)
        if form is None or not web.signer.check_csrf(pre, form.get("csrf")):
            return _form(web, area, request, 403, "The form expired; please sign in again.")
        caller = web.admin_lookup(form.get("key", ""))
        if caller is None:
            return _form(web, area, request, 401, UNKNOWN_KEY)
        session = web.signer.issue(caller.key_id, web.clock())
        target = _next(area, form.get("next"))
        if caller.role not in area.roles:
            target = area.elsewhere
        response = redirect(target)
        ttl = int(web.signer.ttl)
        response.raw_headers.append(
            cookie_header(SESSION_COOKIE, session.cookie, max_age=ttl, secure=web.secure(request))
        )
        response.raw_headers.append(
            cookie_header(PRESESSION_COOKIE, "", max_age=0, secure=web.secure(request))
        )
        return response

    return endpoint


def sign_out_endpoint(web: Web, area: Area) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        found = await web.session(request)
        if found is not None:
            form = await read_form(request)
            token = form.get("csrf") if form is not None else None
            if not web.signer.check_csrf(found[0].cookie, token):
                return web.html(
                    "error.html",
                    403,
                    area=area,
                    caller=found[1],
                    page=None,
                    csrf="",
                    message="Sign-out was not sent by this site (CSRF check).",
                )
            session = found[0]
            await web.signouts.add(session.nonce, session.expires, web.clock())
        return clear_session(web, redirect(f"{area.home}/sign-in?signed_out=1"), request)

    return endpoint
