"""Every PII and secret kind: true positives, and near misses that must stay untouched."""

from __future__ import annotations

import pytest

from lockgate.guards.detect import redact, scan
from lockgate.guards.pii import pii_detectors
from lockgate.guards.secrets import secret_detectors

PII = pii_detectors(None, {"employee_id": r"\bE\d{6}\b"}, "US")
SECRETS = secret_detectors(None)


def redacted(text: str, detectors: tuple[object, ...] = PII) -> str:
    return redact(text, scan(detectors, text))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("write to bob.smith+x@mail.example.co.uk today", "EMAIL"),
        ("call +1 415-555-2671 now", "PHONE"),
        ("call (415) 555-2671 now", "PHONE"),
        ("ruf an: +49 30 901820 bitte", "PHONE"),
        ("card 4111 1111 1111 1111 exp", "CREDIT_CARD"),
        ("card 4111-1111-1111-1111 exp", "CREDIT_CARD"),
        ("card 5555555555554444 exp", "CREDIT_CARD"),
        ("amex 3782 822463 10005 exp", "CREDIT_CARD"),
        ("iban DE89 3704 0044 0532 0130 00 ok", "IBAN"),
        ("iban GB82WEST12345698765432 ok", "IBAN"),
        ("ssn 123-45-6789 ok", "SSN"),
        ("from 192.168.1.20 today", "IP_ADDRESS"),
        ("from 2001:db8::8a2e:370:7334 today", "IP_ADDRESS"),
        ("badge E123456 ok", "EMPLOYEE_ID"),
    ],
)
def test_each_pii_entity_is_found(text: str, entity: str) -> None:
    out = redacted(text)
    assert f"[REDACTED:{entity}]" in out
    assert out.count("[REDACTED:") == 1


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",  # 16 digits, bad check digit
        "order 1234567890123456 is not a card",  # no issuer prefix, fails Luhn
        "iban DE89 3704 0044 0532 0130 01 bad checksum",
        "ssn 000-12-3456 has area 000",
        "ssn 666-12-3456 has area 666",
        "ssn 123-00-6789 has group 00",
        "ssn 901-12-3456 is in the 900 range",
        "not an ip 999.1.1.1 nor 1.2.3",
        "a version v1.2.3 and a year 2024",
        "ext 12345 is too short to be a phone",
        "an at sign @ alone and user@localhost",
        "badge E12345 is too short",
    ],
)
def test_near_misses_are_not_pii(text: str) -> None:
    assert redacted(text) == text


@pytest.mark.parametrize(
    ("text", "entity"),
    [
        ("key sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345 ok", "ANTHROPIC_KEY"),
        ("key sk-proj-abcdefghijklmnopqrstuvwx1234 ok", "OPENAI_KEY"),
        ("id AKIAIOSFODNN7EXAMPLE ok", "AWS_ACCESS_KEY"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SECRET_KEY"),
        ("g AIzaSyA1234567890abcdefghijklmnopqrstuv ok", "GOOGLE_API_KEY"),
        ("t ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ ok", "GITHUB_TOKEN"),
        ("t glpat-abcdefghijklmnopqrst ok", "GITLAB_TOKEN"),
        ("t xoxb-1234567890-abcdefghij ok", "SLACK_TOKEN"),
        ("t sk_live_abcdefghijklmnop1234 ok", "STRIPE_KEY"),
        ("AccountKey=" + "a" * 86 + "== end", "AZURE_KEY"),
        ("key lg-" + "x" * 40 + " ok", "LOCKGATE_KEY"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAK\n-----END RSA PRIVATE KEY-----",
            "PRIVATE_KEY",
        ),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n ok",
            "JWT",
        ),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz123456", "BEARER_TOKEN"),
    ],
)
def test_each_secret_kind_is_found(text: str, entity: str) -> None:
    out = redacted(text, SECRETS)
    assert f"[REDACTED:{entity}]" in out and out.count("[REDACTED:") == 1


@pytest.mark.parametrize(
    "text",
    [
        "the word skeleton and sk-short",
        "AKIA is a prefix, AKIA123 is too short",
        "eyJhbGciOi.eyJzdWIi.sig is too short and eyJnot.eyJa.jwt",
        "a bearer of good news",
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
    ],
)
def test_near_misses_are_not_secrets(text: str) -> None:
    assert redacted(text, SECRETS) == text
