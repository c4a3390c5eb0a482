"""Prompt injection: a fast heuristic tier, then the classifier (``lockgate.ml``).

The heuristics are phrases that are injections in any context ("ignore all previous
instructions", "you are now DAN", fake system-turn markers); a text that matches one scores
its weight at once and skips the classifier. Other texts are scored by the classifier, off
the event loop, and memoised by content digest so a conversation's earlier turns are scored
once. The score of a request is the highest of its user and tool texts.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import regex

_I = regex.IGNORECASE
_PREV = (
    r"(?:previous|prior|preceding|above|earlier|former|original|initial|all(?: of)? (?:the|your))"
)
_RULES = r"(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|context|programming|messages?)"
HEURISTICS: tuple[tuple[regex.Pattern[str], float], ...] = tuple(
    (regex.compile(p, _I), w)
    for p, w in (
        (
            rf"\b(?:ignore|disregard|forget|override|bypass|skip|drop)\b[^.\n]{{0,40}}\b{_PREV}\b[^.\n]{{0,25}}\b{_RULES}\b",
            1.0,
        ),
        (rf"\b(?:ignore|disregard|forget)\b\s+(?:all|any|every)\b[^.\n]{{0,20}}\b{_RULES}\b", 0.95),
        (
            r"\b(?:reveal|show|print|repeat|output|leak|display|dump|tell me|what (?:is|are|were))\b[^.\n]{0,30}\b(?:your|the)\s+(?:system|hidden|initial|original|secret|developer)\s+(?:prompt|instructions?|message|rules)",
            0.95,
        ),
        (
            r"\byou are (?:now |no longer )?(?:DAN|in (?:developer|god|debug|jailbreak|unrestricted) mode|jailbroken|an? (?:unrestricted|unfiltered|uncensored) (?:AI|model|assistant))\b",
            1.0,
        ),
        (
            r"\b(?:developer|god|jailbreak|DAN|unrestricted|debug) mode\b[^.\n]{0,20}\b(?:enabled|activated|on|engaged)\b",
            0.95,
        ),
        (r"\bdo anything now\b", 0.95),
        (
            r"\b(?:pretend|imagine|act as if|behave as if)\b[^.\n]{0,40}\b(?:no|without|free (?:of|from)|not bound by)\b[^.\n]{0,20}\b(?:restrictions|rules|guidelines|filters|limits|policies|ethics|censorship)\b",
            0.9,
        ),
        (
            r"\b(?:bypass|disable|turn off|ignore|circumvent)\b[^.\n]{0,20}\b(?:safety|content|moderation|ethical)\s+(?:filters?|guidelines|policies|restrictions|rules|settings)\b",
            0.9,
        ),
        (
            r"(?:<\|?(?:im_start|im_end|system|endoftext)\|?>|\[/?INST\]|<</?SYS>>|^\s*#{2,}\s*(?:system|new instructions?)\b)",
            0.9,
        ),
        (r"\b(?:new|updated|real|actual) (?:system )?instructions?\s*:", 0.85),
        (
            r"\b(?:AI|assistant|chatbot|model|LLM|agent)s?\b[^.\n]{0,30}\b(?:reading|processing|summari[sz]ing) this\b[^.\n]{0,60}\b(?:must|should|will|ignore|instead)\b",
            0.9,
        ),
        (
            r"\b(?:forward|send|email|exfiltrate|upload|leak)\b[^.\n]{0,60}\b(?:all|every|the user'?s?)\b[^.\n]{0,30}\b(?:emails?|messages|passwords?|credentials|files|data|conversation)\b[^.\n]{0,30}\bto\b",
            0.85,
        ),
    )
)
MEMO_SIZE = 4096


def heuristic_score(text: str) -> float:
    best = 0.0
    for pattern, weight in HEURISTICS:
        if weight > best and pattern.search(text) is not None:
            best = weight
    return best


class ScoreMemo:
    """Classifier scores by text digest (bounded LRU): history turns are scored once."""

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self._size = size
        self._scores: OrderedDict[bytes, float] = OrderedDict()

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, key: bytes) -> float | None:
        score = self._scores.get(key)
        if score is not None:
            self._scores.move_to_end(key)
        return score

    def put(self, key: bytes, score: float) -> None:
        self._scores[key] = score
        if len(self._scores) > self._size:
            self._scores.popitem(last=False)
