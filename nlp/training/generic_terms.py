"""Keywords too common in WSIS writing to say which label a passage serves.

A keyword votes for its label wherever it occurs. Words such as "WSIS", "ITU",
"implementation" or "development" sit in the taxonomy (GDC-FU.1.68 names WSIS, GDC-1.1.10 the
ITU) and occur in a third to a half of the paragraphs of the WSIS founding documents, so every
such paragraph would vote for those labels. Training drops a keyword when it occurs in more than
``max_share`` of the paragraphs of a reference corpus of the product's own genre (by default the
bundled founding documents, ``corpus/wsis20``): only the text is read, never a label.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

from nlp.config import PROJECT_ROOT
from nlp.tagging.keywords import KeywordMatcher
from nlp.taxonomy import Taxonomy

REFERENCE_CORPUS = PROJECT_ROOT / "corpus" / "wsis20"
MAX_SHARE = 0.2  # of reference paragraphs; at 0.2 the founding documents drop four words
MIN_PARAGRAPH_CHARS = 80


def reference_paragraphs(corpus_dir: Path = REFERENCE_CORPUS) -> list[str]:
    """Blank-line separated paragraphs of the ``.txt`` and ``.md`` files in ``corpus_dir``
    (headings and list stubs under ``MIN_PARAGRAPH_CHARS`` are skipped); none if it is missing."""
    if not corpus_dir.is_dir():
        return []
    out: list[str] = []
    for path in sorted([*corpus_dir.glob("*.txt"), *corpus_dir.glob("*.md")]):
        text = path.read_text(encoding="utf-8", errors="replace")
        out += [p.strip() for p in text.split("\n\n") if len(p.strip()) >= MIN_PARAGRAPH_CHARS]
    return out


def generic_keywords(
    keywords: Iterable[str], paragraphs: Sequence[str], max_share: float = MAX_SHARE,
) -> dict[str, float]:
    """``{keyword: share of paragraphs it occurs in}`` for keywords above ``max_share``.

    Matching is the taggers' own (case-insensitive, whole words, simple plurals)."""
    words = sorted(set(keywords))
    if not paragraphs or not words:
        return {}
    matcher = KeywordMatcher({w: [w] for w in words})
    counts = dict.fromkeys(words, 0)
    for paragraph in paragraphs:
        for word in matcher.find(paragraph):
            counts[word] += 1
    n = len(paragraphs)
    return {w: round(c / n, 3) for w, c in counts.items() if c / n > max_share}


def without_generic_keywords(
    taxonomy: Taxonomy, paragraphs: Sequence[str], max_share: float = MAX_SHARE,
) -> tuple[Taxonomy, dict[str, float]]:
    """A copy of ``taxonomy`` whose labels no longer carry the generic keywords (as matched
    keywords or inside prototype text), and the dropped words with their shares."""
    every = (k for labels in taxonomy.labels.values() for lab in labels for k in lab.keywords)
    generic = generic_keywords(every, paragraphs, max_share)
    if not generic:
        return taxonomy, {}
    drop = {w.casefold() for w in generic}
    labels = {
        scheme: [dataclasses.replace(lab, keywords=tuple(k for k in lab.keywords
                                                         if k.casefold() not in drop))
                 for lab in labs]
        for scheme, labs in taxonomy.labels.items()
    }
    return dataclasses.replace(taxonomy, labels=labels, _by_id={}), generic
