"""Near-duplicate passages: the same text repeated within or across documents.

Inputs quote each other and themselves, and uploads repeat text; search shows one passage of
each repeated text and says where else it is ("also in N documents"). Two passages are near
duplicates when most of the word 5-grams of the shorter one also occur in the other
(containment ≥ :data:`CONTAINMENT`, on clean, case-folded words); groups are the connected
components of that relation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence

SHINGLE_WORDS = 5
CONTAINMENT = 0.8
MIN_SHINGLES = 3  # shorter texts (a heading, a signature) are never called duplicates
_COMMON = 64  # a shingle in more passages than this is boilerplate, not evidence of a copy
_WORD = re.compile(r"\w+")


def shingles(text: str) -> set[int]:
    """Hashes of the word 5-grams of ``text`` (case-folded)."""
    words = _WORD.findall(text.casefold())
    return {hash(tuple(words[i : i + SHINGLE_WORDS]))
            for i in range(len(words) - SHINGLE_WORDS + 1)}


def duplicate_groups(texts: Sequence[str]) -> list[int]:
    """For each text, the index of the first text of its near-duplicate group (itself when
    it has no near duplicate).

    Args:
        texts: clean passage texts, in index order.
    """
    sets = [shingles(t) for t in texts]
    postings: dict[int, list[int]] = defaultdict(list)
    for row, shingle_set in enumerate(sets):
        if len(shingle_set) >= MIN_SHINGLES:
            for shingle in shingle_set:
                postings[shingle].append(row)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for rows in postings.values():
        if 1 < len(rows) <= _COMMON:
            for i, a in enumerate(rows):
                for b in rows[i + 1 :]:
                    shared[a, b] += 1
    parent = list(range(len(texts)))

    def root(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return row

    for (a, b), count in shared.items():
        if count >= CONTAINMENT * min(len(sets[a]), len(sets[b])):
            ra, rb = root(a), root(b)
            parent[max(ra, rb)] = min(ra, rb)
    return [root(row) for row in range(len(texts))]
