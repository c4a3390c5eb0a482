"""Pattern detectors and what they find: the one scanning primitive every text guard uses.

A ``Detector`` is a compiled regular expression (the ``regex`` module, for partial matching)
plus an optional validator (a checksum, a range): a candidate the validator refuses is not a
finding. ``scan`` returns non-overlapping findings, earliest first, longest at a tie; the
same function serves whole texts and the released part of a stream, so both find the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import regex

Validator = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Detector:
    entity: str  # upper-case: the <ENTITY> of [REDACTED:<ENTITY>]
    pattern: regex.Pattern[str]
    tail: regex.Pattern[str]  # the pattern anchored at the end, for partial matches
    validate: Validator | None = None


def detector(
    entity: str, pattern: str, validate: Validator | None = None, flags: int = 0
) -> Detector:
    return Detector(
        entity=entity.upper(),
        pattern=regex.compile(pattern, flags),
        tail=regex.compile(f"(?:{pattern})\\Z", flags),
        validate=validate,
    )


@dataclass(frozen=True, slots=True)
class Finding:
    start: int
    end: int
    entity: str


def scan(
    detectors: Sequence[Detector], text: str, pos: int = 0, endpos: int | None = None
) -> list[Finding]:
    """Every validated, non-overlapping finding in ``text[pos:endpos]``; characters before
    ``pos`` are context for look-behinds only."""
    end = len(text) if endpos is None else endpos
    found: list[Finding] = []
    for d in detectors:
        for m in d.pattern.finditer(text, pos, end):
            if m.end() == m.start():
                continue
            if d.validate is None or d.validate(m.group()):
                found.append(Finding(m.start(), m.end(), d.entity))
    if len(found) < 2:
        return found
    found.sort(key=lambda f: (f.start, f.start - f.end))
    out: list[Finding] = []
    last = -1
    for f in found:
        if f.start >= last:
            out.append(f)
            last = f.end
    return out


def hold_from(detectors: Sequence[Detector], text: str, pos: int = 0) -> int:
    """The earliest position from which the end of ``text`` could still become (or extend) a
    match of any detector: what a stream must hold back until more text arrives."""
    hold = len(text)
    for d in detectors:
        m = d.tail.search(text, pos, partial=True)
        if m is not None and m.start() < hold and m.end() > m.start():
            hold = m.start()
    return hold


def redact(text: str, findings: Iterable[Finding], offset: int = 0) -> str:
    """``text`` with each finding replaced by ``[REDACTED:<ENTITY>]``; findings are in the
    coordinates of ``text`` shifted by ``offset``."""
    out: list[str] = []
    at = 0
    for f in findings:
        s, e = f.start - offset, f.end - offset
        out.append(text[at:s])
        out.append(f"[REDACTED:{f.entity}]")
        at = e
    out.append(text[at:])
    return "".join(out)


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in findings:
        out[f.entity] = out.get(f.entity, 0) + 1
    return out
