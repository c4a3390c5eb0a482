"""PII detectors: e-mail, phone, credit card (Luhn), IBAN (mod 97), US SSN (valid ranges),
IP address, and custom regex entities.

Candidates are found by regular expressions and kept only when their checksum or range is
valid (``python-stdnum``, ``phonenumbers``, ``ipaddress``), so a 16-digit number that fails
Luhn is not a card and 000-12-3456 is not an SSN.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence

import phonenumbers
from stdnum import iban, luhn
from stdnum.us import ssn

from lockgate.guards.detect import Detector, detector

PII_ENTITIES = ("email", "phone", "credit_card", "iban", "ssn", "ip_address")

EMAIL = r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
CARD = r"(?<![\d-])\d{4}(?:([ -]?)\d{4}){2}\1\d{1,7}(?![\d-])|(?<![\d-])3[47]\d{2}([ -]?)\d{6}\2\d{5}(?![\d-])"
IBAN = r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])"
SSN = r"(?<![\d-])\d{3}([- ])\d{2}\1\d{4}(?![\d-])"
IPV4 = r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)"
IPV6 = r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f:]*[0-9A-Fa-f](?![0-9A-Fa-f:])|(?<![0-9A-Fa-f:])::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?![0-9A-Fa-f:])"
PHONE = r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}(?![\w])"

_CARD_PREFIXES = (
    *("4", "34", "37", "36", "38", "30", "35", "6011", "62", "64", "65"),
    *(str(n) for n in range(51, 56)),  # Mastercard 51-55
    *(str(n) for n in range(22, 28)),  # Mastercard 2221-2720 (Luhn decides the rest)
)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def valid_card(text: str) -> bool:
    digits = _digits(text)
    return 13 <= len(digits) <= 19 and digits.startswith(_CARD_PREFIXES) and luhn.is_valid(digits)


def valid_iban(text: str) -> bool:
    return bool(iban.is_valid(text))


def valid_ssn(text: str) -> bool:
    return bool(ssn.is_valid(text))


def valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def phone_validator(region: str) -> Callable[[str], bool]:
    def valid_phone(text: str) -> bool:
        digits = _digits(text)
        if not 7 <= len(digits) <= 15:
            return False
        try:
            number = phonenumbers.parse(text, None if text.startswith("+") else region)
        except phonenumbers.NumberParseException:
            return False
        return bool(phonenumbers.is_valid_number(number))

    return valid_phone


def pii_detectors(
    entities: Sequence[str] | None, custom: Mapping[str, str], region: str
) -> tuple[Detector, ...]:
    """The detectors of one pii guard; the more specific entities come first, so a card
    number is never also reported as a phone number."""
    wanted = set(PII_ENTITIES if entities is None else entities)
    out: list[Detector] = []
    if "email" in wanted:
        out.append(detector("email", EMAIL))
    if "credit_card" in wanted:
        out.append(detector("credit_card", CARD, valid_card))
    if "iban" in wanted:
        out.append(detector("iban", IBAN, valid_iban))
    if "ssn" in wanted:
        out.append(detector("ssn", SSN, valid_ssn))
    if "ip_address" in wanted:
        out.append(detector("ip_address", IPV4, valid_ip))
        out.append(detector("ip_address", IPV6, valid_ip))
    if "phone" in wanted:
        out.append(detector("phone", PHONE, phone_validator(region)))
    for name, pattern in custom.items():
        if entities is None or name in wanted:
            out.append(detector(name, pattern))
    return tuple(out)
