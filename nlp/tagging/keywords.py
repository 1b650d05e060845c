"""Taxonomy keyword matching and Action Line references by code, with character offsets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache, lru_cache

from nlp.tagging.types import KeywordMatch

_TOKEN = re.compile(r"\w+(?:[-'’.]\w+)*", re.UNICODE)


def _fold(token: str) -> str:
    """Lower-case and drop a plural ``s`` so "divides" matches "divide" (not "ss": "access")."""
    token = token.lower()
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


@lru_cache(maxsize=4096)
def _folded_tokens(text: str) -> tuple[tuple[str, int, int], ...]:
    """Folded tokens with offsets; cached because every layer of every tagger matches the
    same texts in turn (a batch of passages and their sentences and clauses: 512 entries
    were fewer than one batch of 120 passages' ~840 texts, so each layer re-tokenised all)."""
    return tuple((_fold(m.group(0)), m.start(), m.end()) for m in _TOKEN.finditer(text))


@cache
def _phrase_key(phrase: str) -> tuple[str, ...]:
    """A keyword phrase's folded tokens; cached because the layers of the three taggers share
    most of their ~18,000 phrases (about 4,200 distinct)."""
    return tuple(_fold(t) for t in _TOKEN.findall(phrase))


class KeywordMatcher:
    """Case-insensitive whole-word matching of many keyword phrases, by token n-gram lookup.

    Tokens are compared after :func:`_fold`, so simple plurals match their singular.
    """

    def __init__(self, keywords: dict[str, Sequence[str]], max_words: int = 8) -> None:
        self.keywords = {label: list(words) for label, words in keywords.items()}
        self._table: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        self._prefixes: set[tuple[str, ...]] = set()
        for label, words in self.keywords.items():
            for word in words:
                key = _phrase_key(word)
                if not key or len(key) > max_words:
                    continue
                self._table.setdefault(key, []).append((label, word))
                self._prefixes.update(key[:n] for n in range(1, len(key) + 1))
        self._first = {key[0] for key in self._table}  # most tokens start no keyword

    def find(self, text: str) -> dict[str, list[KeywordMatch]]:
        """``{label: [KeywordMatch, ...]}`` with offsets into ``text``."""
        tokens = _folded_tokens(text)
        out: dict[str, list[KeywordMatch]] = {}
        first = self._first
        for i in range(len(tokens)):
            if tokens[i][0] not in first:
                continue
            key: tuple[str, ...] = ()
            for j in range(i, len(tokens)):
                key = (*key, tokens[j][0])
                if key not in self._prefixes:
                    break
                for label, word in self._table.get(key, ()):
                    out.setdefault(label, []).append(
                        KeywordMatch(word, tokens[i][1], tokens[j][2])
                    )
        return out



# "Action Line C5", "Action Line 5", "AL C3", "(C2)", "AL C7 e-health": WSIS texts cite
# Action Lines by code.
_AL_REFERENCE = re.compile(
    r"(?:\bAction\s+Lines?\s*C?|\bAL\s*C?|\(C)(\d{1,2})\b(?:[\s.:,-]*e-?(government|business|"
    r"learning|health|employment|environment|agriculture|science)\b)?",
    re.IGNORECASE,
)


def action_line_references(text: str) -> list[tuple[str, int, int]]:
    """Action Lines the text names by code: ``[(label, start, end), ...]``."""
    out = []
    for match in _AL_REFERENCE.finditer(text):
        number = int(match.group(1))
        if not 1 <= number <= 11:
            continue
        sub = match.group(2)
        label = f"C7.e-{sub.lower()}" if number == 7 and sub else f"C{number}"
        out.append((label, match.start(), match.end()))
    return out


