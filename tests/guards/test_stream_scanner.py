"""Redaction across chunk boundaries: a stream split anywhere releases what a scan of the whole
text produces, and holds back only what could still become a finding."""

from __future__ import annotations

import pytest

from lockgate.guards.detect import redact, scan
from lockgate.guards.pii import pii_detectors
from lockgate.guards.secrets import secret_detectors
from lockgate.guards.stream import StreamScanner

DETECTORS = pii_detectors(None, {}, "US") + secret_detectors(None)
TEXTS = [
    "Mail bob.smith@example.com or call +1 415-555-2671; card 4111 1111 1111 1111, not "
    "4111 1111 1111 1112. IBAN DE89 3704 0044 0532 0130 00, ssn 123-45-6789, ip 10.0.0.1.",
    "key: -----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY----- then "
    "sk-ant-abcdefghijklmnopqrstuvwxyz and done",
    "end with an address: carol@example.org",
]


def stream(parts: list[str]) -> str:
    scanner = StreamScanner(DETECTORS)
    out = []
    for part in parts:
        text, found = scanner.feed(part)
        out.append(redact(text, found))
    text, found = scanner.flush()
    out.append(redact(text, found))
    return "".join(out)


@pytest.mark.parametrize("text", TEXTS)
def test_every_single_split_point(text: str) -> None:
    whole = redact(text, scan(DETECTORS, text))
    assert "[REDACTED:" in whole
    for i in range(len(text) + 1):
        assert stream([text[:i], text[i:]]) == whole, i


@pytest.mark.parametrize("text", TEXTS)
def test_character_by_character(text: str) -> None:
    assert stream(list(text)) == redact(text, scan(DETECTORS, text))


def test_only_what_could_still_match_is_held() -> None:
    scanner = StreamScanner(pii_detectors(["email"], {}, "US"))
    released, _ = scanner.feed("Hello there, write to bob")
    assert released == "Hello there, write to " and scanner.held == "bob"
    released, found = scanner.feed("@example.com. Thanks")
    assert redact(released, found) == "bob"[:0] + "[REDACTED:EMAIL]. " and scanner.held == "Thanks"
