"""Readers: txt, md, pdf, docx and html files -> :class:`~nlp.types.Document`.

Every reader works on bytes, so the same code serves files on disk and uploads. The format is
decided by content (magic bytes), with the extension as a hint; a file whose content contradicts
its extension is refused rather than guessed at. Failures raise :class:`DocumentError` naming
the file and the reason.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from nlp.errors import DocumentError, UnsupportedFormatError
from nlp.types import Document, DocumentMeta

SUPPORTED_SUFFIXES = {".txt": "txt", ".md": "md", ".markdown": "md", ".pdf": "pdf",
                      ".docx": "docx", ".html": "html", ".htm": "html"}
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("file", "title", "organization", "kind", "date")


# --------------------------------------------------------------------------- format detection


def detect_format(data: bytes, filename: str) -> str:
    """Return ``"txt" | "md" | "pdf" | "docx" | "html"`` from content, checked against the name.

    Raises:
        UnsupportedFormatError: unknown extension, binary content we do not read, or content
            that contradicts the extension (e.g. a ``.pdf`` that is really a ZIP).
    """
    suffix = Path(filename).suffix.lower()
    claimed = SUPPORTED_SUFFIXES.get(suffix)
    head = data[:1024]
    if head.lstrip().startswith(b"%PDF") or head.startswith(b"%PDF"):
        actual = "pdf"
    elif head.startswith(b"PK\x03\x04"):
        actual = "docx" if _is_docx(data) else "zip"
    elif _looks_binary(head):
        actual = "binary"
    elif re.search(rb"<!doctype html|<html[\s>]|<body[\s>]", head, re.IGNORECASE):
        actual = "html"
    else:
        actual = "text"

    if claimed is None:
        raise UnsupportedFormatError(
            filename,
            f"unsupported file type {suffix or '(no extension)'!r}; "
            f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}",
        )
    if claimed in {"txt", "md"}:
        if actual in {"text", "html"}:
            return claimed
    elif claimed == "html":
        if actual in {"html", "text"}:
            return "html"
    elif claimed == actual:
        return claimed
    raise UnsupportedFormatError(
        filename, f"content is {_describe(actual)}, which does not match the extension {suffix!r}"
    )


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _looks_binary(head: bytes) -> bool:
    if not head:
        return False
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the 1 KiB boundary is still text.
        if exc.start >= len(head) - 3:
            return False
    control = sum(1 for b in head if b < 9 or 13 < b < 32)
    return control > len(head) * 0.05


def _describe(kind: str) -> str:
    return {"pdf": "a PDF", "docx": "a Word document", "zip": "a ZIP archive",
            "binary": "binary data", "html": "HTML", "text": "plain text"}[kind]


# --------------------------------------------------------------------------- readers


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _normalise_text(text: str) -> str:
    """Unify newlines, drop NULs and trailing spaces, and cap blank-line runs at one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = text.replace("\u00ad", "")  # soft hyphens
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return ""


def read_text(data: bytes) -> tuple[str, dict[str, str]]:
    text = _normalise_text(_decode(data))
    return text, {"title": _first_line(text)}


def read_pdf(data: bytes, filename: str) -> tuple[str, dict[str, str]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Owner-password-only PDFs open with an empty user password; anything else is locked.
            try:
                if not reader.decrypt(""):
                    raise DocumentError(filename, "the PDF is encrypted (password required)")
            except DocumentError:
                raise
            except Exception as exc:  # noqa: BLE001 - pypdf's crypto errors have no common base
                raise DocumentError(filename, f"the PDF is encrypted and cannot be opened ({exc})")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AssertionError) as exc:
        raise DocumentError(filename, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})")
    except Exception as exc:  # noqa: BLE001 - pypdf raises many error types on damaged files
        raise DocumentError(filename, f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})")
    text = clean_pdf_pages(pages)
    meta = {
        "title": str(info.get("/Title") or "").strip(),
        "organization": str(info.get("/Author") or "").strip(),
        "date": _pdf_date(str(info.get("/CreationDate") or "")),
    }
    return text, meta


def _pdf_date(raw: str) -> str:
    match = re.match(r"D:(\d{4})(\d{2})?(\d{2})?", raw)
    if not match:
        return ""
    return "-".join(part for part in match.groups() if part)


_PAGE_NUMBER = re.compile(r"^\W*(page\s*)?\d+(\s*(of|/)\s*\d+)?\W*$", re.IGNORECASE)
_BULLET_START = re.compile(r"^\s*(?:[-*•▪◦–]|\(?\d{1,3}[.)]|\(?[a-z][.)])\s")


def _line_key(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip().lower())


def clean_pdf_pages(pages: list[str]) -> str:
    """Join extracted PDF pages into clean text.

    Removes page numbers and header/footer lines repeated on most pages, re-joins words
    hyphenated across line ends, turns soft line wraps into spaces and keeps paragraph breaks.
    """
    page_lines = [[ln.rstrip() for ln in _normalise_text(p).split("\n")] for p in pages]
    repeated: set[str] = set()
    if len(page_lines) >= 3:
        edges: Counter[str] = Counter()
        for lines in page_lines:
            nonblank = [ln for ln in lines if ln.strip()]
            for ln in set(nonblank[:2] + nonblank[-2:]):
                edges[_line_key(ln)] += 1
        repeated = {key for key, n in edges.items() if n >= max(3, 0.6 * len(page_lines))}

    paragraphs: list[str] = []
    for lines in page_lines:
        kept = [ln for ln in lines
                if not _PAGE_NUMBER.match(ln) and _line_key(ln) not in repeated]
        widths = sorted(len(ln) for ln in kept if ln.strip())
        typical = widths[len(widths) * 3 // 4] if widths else 0
        current = ""
        for line in kept:
            stripped = line.strip()
            if not stripped:
                if current:
                    paragraphs.append(current)
                current = ""
                continue
            if not current:
                current = stripped
            elif _BULLET_START.match(line):
                paragraphs.append(current)
                current = stripped
            elif current.endswith("-") and stripped[:1].islower():
                current = current[:-1] + stripped
            else:
                current = f"{current} {stripped}"
            # A short line that closes a sentence ends its paragraph.
            if typical and len(stripped) < 0.7 * typical and re.search(r"[.!?:]$", stripped):
                paragraphs.append(current)
                current = ""
        if current:
            paragraphs.append(current)
    text = "\n\n".join(re.sub(r"[ \t]{2,}", " ", p) for p in paragraphs)
    return _normalise_text(text)


def read_docx(data: bytes, filename: str) -> tuple[str, dict[str, str]]:
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx/lxml/zipfile errors share no base
        raise DocumentError(filename, f"corrupt or unreadable Word document ({exc})")
    blocks: list[str] = []
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            text = "".join(node.text or "" for node in child.iter() if node.tag.endswith("}t"))
            if text.strip():
                blocks.append(text.strip())
        elif tag == "tbl":
            for row in child.iter():
                if row.tag.endswith("}tr"):
                    cells = []
                    for cell in row:
                        if cell.tag.endswith("}tc"):
                            cells.append(" ".join(
                                (n.text or "") for n in cell.iter() if n.tag.endswith("}t")
                            ).strip())
                    line = " | ".join(c for c in cells if c)
                    if line:
                        blocks.append(line)
    props = document.core_properties
    meta = {
        "title": (props.title or "").strip(),
        "organization": (props.author or "").strip(),
        "date": props.created.date().isoformat() if props.created else "",
    }
    return _normalise_text("\n\n".join(blocks)), meta


_BLOCK_TAGS = {"p", "div", "section", "article", "li", "h1", "h2", "h3", "h4", "h5", "h6",
               "tr", "blockquote", "pre", "header", "footer", "dd", "dt", "td", "th"}
_DROP_TAGS = {"script", "style", "nav", "noscript", "template", "svg", "form", "aside"}


def read_html(data: bytes, filename: str) -> tuple[str, dict[str, str]]:
    """Main text of an HTML page: trafilatura first (drops navigation and boilerplate), then a
    plain block-level walk with lxml when trafilatura finds too little (short pages)."""
    import lxml.html

    raw = _decode(data)
    try:
        tree = lxml.html.fromstring(raw)
    except Exception as exc:  # noqa: BLE001 - lxml raises parser and value errors alike
        raise DocumentError(filename, f"unreadable HTML ({exc})")
    title = (tree.findtext(".//title") or "").strip()
    fallback = _html_blocks(tree)
    text = ""
    try:
        import trafilatura

        text = trafilatura.extract(raw, include_comments=False, include_tables=True,
                                   favor_recall=True) or ""
    except Exception:  # noqa: BLE001 - trafilatura is best effort; the lxml text stands in
        text = ""
    if len(text) < 0.5 * len(fallback):
        text = fallback
    h1 = tree.findtext(".//h1")
    return _normalise_text(text.replace("\n", "\n\n")), {"title": title or (h1 or "").strip()}


def _html_blocks(tree) -> str:
    for bad in tree.xpath("//" + " | //".join(sorted(_DROP_TAGS))):
        bad.drop_tree()
    body = tree.find(".//body")
    root = body if body is not None else tree
    blocks: list[str] = []
    for element in root.iter():
        if not isinstance(element.tag, str) or element.tag not in _BLOCK_TAGS:
            continue
        # Only leaf-ish blocks: skip containers whose text lives in nested blocks.
        if any(isinstance(c.tag, str) and c.tag in _BLOCK_TAGS for c in element):
            own = (element.text or "").strip()
            if own:
                blocks.append(own)
            continue
        text = " ".join(element.text_content().split())
        if text:
            blocks.append(text)
    return "\n".join(blocks)


# --------------------------------------------------------------------------- public API


def parse_bytes(data: bytes, filename: str, meta: DocumentMeta | None = None) -> Document:
    """Read one document from its bytes.

    Args:
        data: the file content.
        filename: used for the format check, error messages and ``meta.source``.
        meta: metadata to use; fields left empty are filled from the file itself.

    Raises:
        DocumentError: empty, corrupt, encrypted, unsupported or text-free content.
    """
    if not data or not data.strip():
        raise DocumentError(filename, "the file is empty")
    fmt = detect_format(data, filename)
    if fmt == "pdf":
        text, found = read_pdf(data, filename)
    elif fmt == "docx":
        text, found = read_docx(data, filename)
    elif fmt == "html":
        text, found = read_html(data, filename)
    else:
        text, found = read_text(data)
    if not text.strip():
        reason = "no extractable text (a scanned PDF needs OCR first)" if fmt == "pdf" else "no text"
        raise DocumentError(filename, reason)
    given = meta or DocumentMeta(title="")
    merged = DocumentMeta(
        title=given.title or found.get("title") or Path(filename).stem,
        organization=given.organization or found.get("organization", ""),
        kind=given.kind,
        date=given.date or found.get("date", ""),
        source=given.source or Path(filename).name,
    )
    return Document.from_text(text, merged)


def read_document(path: str | Path, meta: DocumentMeta | None = None) -> Document:
    """Read one file from disk. See :func:`parse_bytes`."""
    path = Path(path)
    if not path.exists():
        raise DocumentError(str(path), "no such file")
    if not path.is_file():
        raise DocumentError(str(path), "not a regular file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(str(path), f"cannot read the file ({exc.strerror})")
    return parse_bytes(data, str(path), meta)


def read_manifest(folder: Path) -> dict[str, DocumentMeta]:
    """``manifest.csv`` rows keyed by file name; a missing manifest gives an empty mapping."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {}
    rows: dict[str, DocumentMeta] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = {"file", "title"} - set(reader.fieldnames or [])
        if missing:
            raise DocumentError(str(path), f"manifest lacks columns {sorted(missing)}")
        for row in reader:
            name = (row.get("file") or "").strip()
            if name:
                rows[name] = DocumentMeta(
                    title=(row.get("title") or "").strip(),
                    organization=(row.get("organization") or "").strip(),
                    kind=(row.get("kind") or "").strip(),
                    date=(row.get("date") or "").strip(),
                    source=name,
                )
    return rows


@dataclass
class LoadReport:
    """What a folder ingest produced: the documents read and the files that failed."""

    documents: list[Document] = field(default_factory=list)
    errors: list[DocumentError] = field(default_factory=list)


def iter_files(paths: list[Path]) -> list[Path]:
    """Expand folders (recursively) into supported files; plain files are kept as given."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES))
        else:
            files.append(path)
    return files


def load_paths(paths: list[str | Path]) -> LoadReport:
    """Read files and folders; each folder's ``manifest.csv`` supplies metadata.

    A file that fails is recorded in ``errors`` and the rest still load.
    """
    report = LoadReport()
    manifests: dict[Path, dict[str, DocumentMeta]] = {}
    seen: set[str] = set()
    for file in iter_files([Path(p) for p in paths]):
        folder = file.parent
        try:
            if folder not in manifests:
                manifests[folder] = read_manifest(folder)
            document = read_document(file, manifests[folder].get(file.name))
        except DocumentError as exc:
            report.errors.append(exc)
            continue
        if document.id not in seen:  # the same text twice is one document
            seen.add(document.id)
            report.documents.append(document)
    return report
