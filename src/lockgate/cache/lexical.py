"""A lexical veto for the semantic cache: two questions that share most of their content
words but each has a word the other lacks ("open on Sundays" / "close on Sundays", "soft
yolk" / "hard yolk") ask different things, however close their embeddings are.

Measured on bench/data/paraphrases.jsonl (bench/RESULTS.md): without it no threshold keeps
precision at 0.98 with a useful hit rate, because sentence embeddings put such pairs at
0.88-0.97; with it, 0.88 keeps precision at 1.0 while answering 30% of paraphrases.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "do",
        "does",
        "did",
        "i",
        "my",
        "me",
        "you",
        "your",
        "we",
        "our",
        "it",
        "its",
        "of",
        "to",
        "in",
        "on",
        "for",
        "at",
        "by",
        "with",
        "from",
        "and",
        "or",
        "how",
        "what",
        "which",
        "who",
        "when",
        "where",
        "why",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "there",
        "this",
        "that",
        "these",
        "those",
        "as",
        "if",
        "so",
        "than",
        "then",
        "into",
        "about",
        "up",
        "down",
        "out",
        "over",
        "any",
        "some",
        "much",
        "many",
        "more",
        "most",
        "very",
        "just",
        "please",
        "tell",
    ]
)
OVERLAP = 0.5  # Jaccard overlap of content words from which a two-way difference is a swap


def content_words(text: str) -> frozenset[str]:
    return frozenset(
        w[:-1] if len(w) > 3 and w.endswith("s") else w
        for w in _WORD.findall(text.lower())
        if w not in _STOP
    )


def swapped(a: frozenset[str], b: frozenset[str]) -> bool:
    """True when ``a`` and ``b`` look like one question with a word swapped for another."""
    if not (a - b) or not (b - a):
        return False
    return len(a & b) / len(a | b) >= OVERLAP
