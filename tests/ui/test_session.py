"""Session cookies and CSRF tokens (lockgate.ui.session)."""

from __future__ import annotations

import pytest

from lockgate.ui.session import Signer, cookie_header, derive_key

KEY = derive_key("a-server-keyed-hash")


def test_a_cookie_names_its_key_until_it_expires() -> None:
    s = Signer(KEY, ttl=60)
    session = s.issue("adm_1", now=1000.0)
    assert session.expires == 1060
    found = s.read(session.cookie, now=1059.0)
    assert found is not None and found.key_id == "adm_1"
    assert s.read(session.cookie, now=1060.0) is None


def test_forged_cookies_are_refused() -> None:
    s = Signer(KEY)
    cookie = s.issue("adm_1", now=0).cookie
    body, sig = cookie.split(".")
    other = Signer(derive_key("another-gateway"))
    assert other.read(cookie, now=1) is None  # another server secret
    for forged in (f"{body}.{sig[::-1]}", f"{body[:-1]}A.{sig}", body, "", "a.b.c", "x" * 2000):
        assert s.read(forged, now=1) is None
    # a payload the attacker wrote (no valid signature) never decodes into a session
    assert s.read("eyJrIjoiYWRtIiwiZSI6OTk5OTk5OTk5OX0.AAAA", now=1) is None


def test_each_session_has_its_own_cookie_and_csrf_token() -> None:
    s = Signer(KEY)
    a, b = s.issue("adm_1", now=0), s.issue("adm_1", now=0)
    assert a.cookie != b.cookie  # a nonce: two sign-ins never share a cookie
    assert s.check_csrf(a.cookie, s.csrf(a.cookie))
    assert not s.check_csrf(a.cookie, s.csrf(b.cookie))
    assert not s.check_csrf(a.cookie, None) and not s.check_csrf(None, s.csrf(a.cookie))


def test_cookie_flags() -> None:
    name, value = cookie_header("lockgate_session", "v", max_age=60, secure=True)
    assert name == b"set-cookie"
    assert value == b"lockgate_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
    _, plain = cookie_header("lockgate_session", "v", max_age=60, secure=False)
    assert not plain.endswith(b"Secure")


def test_a_short_signing_key_is_refused() -> None:
    with pytest.raises(ValueError):
        Signer(b"short")
