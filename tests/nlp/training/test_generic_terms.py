"""Keywords that occur in most WSIS paragraphs are dropped before training; specific ones stay."""

from __future__ import annotations

from nlp.training.generic_terms import (
    generic_keywords,
    reference_paragraphs,
    without_generic_keywords,
)

PARAGRAPHS = [
    "The WSIS outcomes call for connecting schools to broadband networks.",
    "WSIS stakeholders reviewed progress on cybersecurity and trust.",
    "WSIS Forum participants discussed e-health services in rural clinics.",
    "Universal service funds finance broadband in remote areas.",
]


def test_share_counts_whole_words_case_insensitively():
    shares = generic_keywords(["wsis", "broadband", "e-health", "spectrum"], PARAGRAPHS, 0.4)
    # "wsis" is in 3 of 4 paragraphs, "broadband" in 2 of 4 (not above 0.5), the rest rarer
    assert shares == {"wsis": 0.75, "broadband": 0.5}
    assert generic_keywords(["wsis", "broadband"], PARAGRAPHS, 0.5) == {"wsis": 0.75}
    assert generic_keywords(["wsis"], [], 0.1) == {}


def test_taxonomy_copy_loses_only_generic_keywords(plain_taxonomy):
    specific, dropped = without_generic_keywords(plain_taxonomy, PARAGRAPHS * 3, 0.5)
    assert set(dropped) == {k for labs in plain_taxonomy.labels.values() for lab in labs
                            for k in lab.keywords if k.casefold() == "wsis"}
    assert dropped, "the GDC follow-up item names WSIS as a keyword"
    follow_up = specific.get("gdc", "GDC-FU.1.68")
    assert "WSIS" not in follow_up.keywords
    assert "WSIS Forum" in follow_up.keywords  # the specific phrase stays
    assert "WSIS" in plain_taxonomy.get("gdc", "GDC-FU.1.68").keywords  # original untouched
    assert specific.fingerprint("gdc") != plain_taxonomy.fingerprint("gdc")
    assert specific.fingerprint("action-lines") == plain_taxonomy.fingerprint("action-lines")


def test_founding_documents_drop_a_few_domain_words(plain_taxonomy):
    paragraphs = reference_paragraphs()
    assert len(paragraphs) > 100
    _, dropped = without_generic_keywords(plain_taxonomy, paragraphs)
    assert "WSIS" in dropped and "ITU" in dropped
    assert all(share > 0.2 for share in dropped.values())
    assert len(dropped) < 10  # a handful of domain words, not the vocabulary
