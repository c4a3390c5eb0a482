"""Scanning a stream: release only the text that can no longer become (part of) a finding.

Each chunk is appended to what was held; everything before the earliest point from which the
end could still grow into a match (``hold_from``), or before a candidate that straddles that
point, is final: it is scanned, redacted and released. A chunk boundary inside an e-mail
address, a card number or a private key therefore holds back exactly those bytes until the
next chunk decides. The released text is what a scan of the whole text would have produced.
"""

from __future__ import annotations

from collections.abc import Sequence

from lockgate.guards.detect import Detector, Finding, hold_from, scan

CONTEXT = 64  # released characters kept for look-behinds


class StreamScanner:
    __slots__ = ("_context", "_detectors", "held")

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self._detectors = tuple(detectors)
        self._context = ""
        self.held = ""

    def feed(self, text: str) -> tuple[str, list[Finding]]:
        """(final text, its findings in its own coordinates) after ``text`` arrived."""
        self.held += text
        return self._release(final=False)

    def flush(self) -> tuple[str, list[Finding]]:
        """Everything held, at the end of the stream (or of a text block)."""
        return self._release(final=True)

    def _release(self, final: bool) -> tuple[str, list[Finding]]:
        full = self._context + self.held
        off = len(self._context)
        cut = len(full) if final else hold_from(self._detectors, full, off)
        if not final:
            cut = min(cut, _straddled(self._detectors, full, off, cut))
        if cut <= off:
            return "", []
        found = [f for f in scan(self._detectors, full, off) if f.end <= cut]
        out = full[off:cut]
        self.held = full[cut:]
        self._context = full[max(0, cut - CONTEXT) : cut]
        return out, [Finding(f.start - off, f.end - off, f.entity) for f in found]


def _straddled(detectors: Sequence[Detector], text: str, pos: int, cut: int) -> int:
    """The start of the earliest candidate (validated or not) that runs across ``cut``."""
    earliest = cut
    for d in detectors:
        for m in d.pattern.finditer(text, pos):
            if m.start() >= earliest:
                break
            if m.end() > cut:
                earliest = m.start()
                break
    return earliest
