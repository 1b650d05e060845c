from __future__ import annotations

import itertools

import pytest

from nlp.chunk import Chunker, paragraph_spans, split_sentences
from nlp.types import Document, DocumentMeta


def doc(text: str) -> Document:
    return Document.from_text(text, DocumentMeta(title="t"))


def test_offsets_round_trip_for_every_passage_of_the_corpus(corpus_documents) -> None:
    chunker = Chunker()
    total = 0
    for document in corpus_documents:
        passages = chunker.chunk(document)
        assert passages, document.meta.source
        for p in passages:
            assert document.text[p.start : p.end] == p.text
            assert p.doc_id == document.id
        total += len(passages)
    assert total > 50


def test_no_passage_splits_a_sentence(corpus_documents) -> None:
    chunker = Chunker()
    for document in corpus_documents:
        sentences = split_sentences(document.text)
        passages = chunker.chunk(document)
        for start, end in sentences:
            inside = [p for p in passages if p.start <= start and end <= p.end]
            overlapping = [p for p in passages if p.start < end and start < p.end]
            assert len(inside) == 1 and overlapping == inside, (document.meta.source, start, end)


def test_passages_cover_the_text_in_order_and_respect_sizes(corpus_documents) -> None:
    chunker = Chunker(min_words=60, max_words=200)
    for document in corpus_documents:
        passages = chunker.chunk(document)
        sentences = split_sentences(document.text)
        assert passages[0].start == sentences[0][0]
        assert passages[-1].end == sentences[-1][1]
        for a, b in itertools.pairwise(passages):
            assert a.end <= b.start
            assert document.text[a.end : b.start].strip() == ""  # nothing lost between passages
        for p in passages:
            words = len(p.text.split())
            longest = max(len(document.text[s:e].split()) for s, e in sentences
                          if p.start <= s and e <= p.end)
            assert words <= 200 or longest > 200


def test_passage_ids_are_stable(corpus_documents) -> None:
    first = [p.id for p in Chunker().chunk(corpus_documents[1])]
    again = [p.id for p in Chunker().chunk(corpus_documents[1])]
    assert first == again
    assert len(set(first)) == len(first)


def test_sentences_never_cross_a_paragraph_break() -> None:
    text = "Heading without a full stop\n\nThe first sentence. The second one\n\n- item one\n- item two"
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "Heading without a full stop", "The first sentence.", "The second one",
        "- item one", "- item two",
    ]


def test_page_break_inside_a_sentence_is_joined() -> None:
    text = "Through partnerships and facilitating the\n\nexchange of best practices, it helps."
    assert paragraph_spans(text) == [(0, len(text))]
    assert [text[s:e] for s, e in split_sentences(text)] == [text]


def test_short_paragraphs_merge_until_min_words() -> None:
    para = "Word " * 30
    text = "\n\n".join(para.strip() + "." for _ in range(4))
    spans = Chunker(min_words=50, max_words=200).spans(text)
    assert len(spans) == 2  # 30 + 30 words reach the minimum at a paragraph end


def test_long_paragraph_splits_at_sentence_ends() -> None:
    sentence = "This sentence has exactly eight words in it."
    text = " ".join([sentence] * 30)  # 240 words, one paragraph
    passages = Chunker(min_words=20, max_words=50).chunk(doc(text))
    assert all(len(p.text.split()) <= 50 for p in passages)
    assert all(p.text.endswith(".") for p in passages)


def test_overlong_single_sentence_is_kept_whole() -> None:
    text = " ".join(["word"] * 300) + "."
    passages = Chunker(min_words=10, max_words=50).chunk(doc(text))
    assert len(passages) == 1 and passages[0].text == text


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="min_words"):
        Chunker(min_words=100, max_words=50)


def test_sentence_splitting_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; from nlp.chunk import split_sentences; "
            "assert split_sentences('This is one. This is two.') == [(0, 12), (13, 25)]; "
            "print('torch' in sys.modules); import torch")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"  # and torch still imports afterwards


SENTENCE_CASES = [  # one sentence (no spaCy needed) and not
    "We will connect every school to the Internet by 2030.",
    "We will connect every school to the Internet by 2030",
    "Why not?!",
    "Done...",
    "Done. ",
    "Done.)",  # a closing bracket after the period is not punctuation of the sentencizer
    "Done. Then more.",
    "Done.  !",
    "e.g. schools",
    "U.S. policy.",
    "Ends with an ideographic full stop。",
    "Two full stops。。 and text",
    "Price: $5.",
    "Price: 5 $.",
    "No. 5",
    "Hello!World",
    "Hello !!! ",
    "Ellipsis… then words",
]


def _spacy_sentences(text: str) -> list[tuple[int, int]]:
    """What sentences() gave before its fast path: every paragraph through spaCy."""
    from nlp.chunk import _sentencizer, _strip

    out = []
    for a, b in paragraph_spans(text):
        for sent in _sentencizer()(text[a:b]).sents:
            start, end = _strip(text, a + sent.start_char, a + sent.end_char)
            if start < end:
                out.append((start, end))
    return out


def test_sentence_punctuation_is_the_sentencizers() -> None:
    from nlp.chunk import SENTENCE_PUNCT, _import_spacy

    _import_spacy()
    from spacy.pipeline import Sentencizer

    assert list(SENTENCE_PUNCT) == Sentencizer.default_punct_chars


@pytest.mark.parametrize("text", SENTENCE_CASES)
def test_paragraphs_skipping_spacy_split_as_spacy_does(text: str) -> None:
    assert split_sentences(text) == _spacy_sentences(text)
    assert split_sentences(f"Intro line.\n\n{text}\n\n- {text}") == _spacy_sentences(
        f"Intro line.\n\n{text}\n\n- {text}")


def test_sentences_of_the_corpus_are_spacys(corpus_documents) -> None:
    from nlp.chunk import _one_sentence

    skipped = 0
    for document in corpus_documents:
        text = document.text
        assert split_sentences(text) == _spacy_sentences(text), document.meta.source
        skipped += sum(_one_sentence(text[a:b]) for a, b in paragraph_spans(text))
    assert skipped > 10  # the fast path is exercised


def test_one_sentence_needs_no_spacy() -> None:
    import subprocess
    import sys

    code = ("import sys; from nlp.chunk import split_sentences; "
            "assert split_sentences('We will connect every school by 2030.') == [(0, 37)]; "
            "assert 'spacy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
