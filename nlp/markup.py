"""Markdown and HTML marks out of passage text, with a map back to the stored text.

Documents keep their text exactly as read (``document.text[p.start:p.end] == p.text``), marks
included: offsets, evidence spans and reports all point into it. What is embedded, indexed
and shown is the *clean* text: emphasis (``**``, ``*``, ``__``), heading hashes, link syntax
(``[text](url)`` keeps ``text``), autolink brackets, HTML tags and entities and backslash
escapes go; every other character stays, so ``offsets`` maps each clean character to its
position in the source.

    >>> clean = clean_markup("**Promoting Cybersecurity (C5):** secure [routing](#)")
    >>> clean.text
    'Promoting Cybersecurity (C5): secure routing'
    >>> clean.raw_span(37, 44)  # "routing" in the source
    (42, 49)
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

# One alternation, tried left to right at each position; each branch names what it keeps.
_MARK = re.compile(
    r"(?P<link>\[(?P<link_text>[^\]\n]*)\]\([^)\s]*\))"     # [text](url) -> text
    r"|(?P<auto><(?P<auto_url>https?://[^>\s]+)>)"           # <https://...> -> https://...
    r"|(?P<tag></?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>)"    # <sup>, </p>, <br/> -> nothing
    r"|(?P<entity>&(?:[A-Za-z]{2,8}|#\d{1,6}|#x[0-9A-Fa-f]{1,6});)"  # &amp; -> &
    r"|(?P<heading>^[ \t]{0,3}#{1,6}[ \t]+)"                  # ## Title -> Title
    r"|(?P<escape>\\(?P<escaped>[\\`*_{}\[\]()#+\-.!|<>]))"   # \( -> (
    r"|(?P<bullet>^[ \t]*[*+-][ \t]+)"                         # list bullets stay as they are
    r"|(?P<emphasis>\*{1,3}|(?<![\w])_{1,2}(?=\S)|(?<=\S)_{1,2}(?![\w]))",  # ** * __ -> nothing
    re.MULTILINE,
)


@dataclass(frozen=True)
class CleanText:
    """Text without marks; ``offsets[i]`` is the source position of ``text[i]`` and
    ``offsets[len(text)]`` the end of the source."""

    text: str
    offsets: tuple[int, ...]

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The source span ``[a, b)`` covering clean characters ``[start, end)``."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"Span {(start, end)!r} is outside the clean text "
                             f"(length {len(self.text)})")
        if start == end:
            return self.offsets[start], self.offsets[start]
        return self.offsets[start], self.offsets[end - 1] + 1


def clean_markup(text: str) -> CleanText:
    """``text`` without Markdown and HTML marks, and where each kept character came from.

    Args:
        text: source text (a passage or a whole document).

    Returns:
        :class:`CleanText`; a text without marks comes back unchanged with identity offsets.
    """
    pieces: list[str] = []
    offsets: list[int] = []
    last = 0

    def keep(a: int, b: int) -> None:
        pieces.append(text[a:b])
        offsets.extend(range(a, b))

    for match in _MARK.finditer(text):
        kind = match.lastgroup
        keep(last, match.start())
        last = match.end()
        if kind == "link":
            keep(match.start("link_text"), match.end("link_text"))
        elif kind == "auto":
            keep(match.start("auto_url"), match.end("auto_url"))
        elif kind == "escape":
            keep(match.start("escaped"), match.end("escaped"))
        elif kind == "bullet":
            keep(match.start(), match.end())
        elif kind == "entity":
            decoded = html.unescape(match.group())
            pieces.append(decoded)
            offsets.extend([match.start()] * len(decoded))
    keep(last, len(text))
    offsets.append(len(text))
    return CleanText("".join(pieces), tuple(offsets))


@lru_cache(maxsize=4096)
def clean_text(text: str) -> str:
    """Only the clean text of :func:`clean_markup` (cached: passages are shown repeatedly)."""
    return clean_markup(text).text
