from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from nlp.errors import DocumentError, UnsupportedFormatError
from nlp.load import clean_pdf_pages, detect_format, load_paths, parse_bytes, read_document
from nlp.types import DocumentMeta

PARAGRAPHS = [
    "Member States commit to connecting every school and hospital to the Internet by 2030.",
    "Routing security must improve through shared norms such as MANRS.",
]


def make_pdf(pages: list[list[str]], header: str | None = None, encrypt: str | None = None,
             title: str = "") -> bytes:
    """A real PDF made with reportlab: one list of lines per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    if title:
        pdf.setTitle(title)
        pdf.setAuthor("Test Org")
    for number, lines in enumerate(pages, start=1):
        y = 800
        if header:
            pdf.drawString(72, y, header)
            y -= 30
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 16
        pdf.drawString(290, 40, str(number))
        pdf.showPage()
    pdf.save()
    data = buffer.getvalue()
    if encrypt:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter()
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
        writer.encrypt(user_password=encrypt, owner_password=encrypt + "-owner")
        out = io.BytesIO()
        writer.write(out)
        data = out.getvalue()
    return data


def make_docx(paragraphs: list[str], title: str = "", table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_txt_and_md(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("\n\n".join(PARAGRAPHS) + "\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Heading One\n\n" + PARAGRAPHS[0], encoding="utf-8")
    txt = read_document(tmp_path / "a.txt")
    md = read_document(tmp_path / "b.md")
    assert txt.text == "\n\n".join(PARAGRAPHS)
    assert txt.meta.title == PARAGRAPHS[0][:200]
    assert md.meta.title == "Heading One"
    assert md.meta.source == "b.md"
    assert len(txt.id) == 16 and txt.id != md.id


def test_cp1252_text_is_decoded() -> None:
    doc = parse_bytes("Caf\u00e9 connectivity \u2013 rural areas".encode("cp1252"), "x.txt")
    assert doc.text == "Caf\u00e9 connectivity \u2013 rural areas"


def test_pdf_removes_headers_page_numbers_and_hyphenation() -> None:
    pages = [
        ["The Summit recognised that infor-", "mation networks need resilient design."],
        ["Capacity building is needed locally."],
        ["Local communities understand their needs."],
    ]
    doc = parse_bytes(make_pdf(pages, header="WSIS+20 Review Draft", title="Resilience"), "r.pdf")
    assert "information networks" in doc.text
    assert "WSIS+20 Review Draft" not in doc.text
    assert not any(line.strip().isdigit() for line in doc.text.splitlines())
    assert doc.meta.title == "Resilience"
    assert doc.meta.organization == "Test Org"
    assert "Capacity building is needed locally." in doc.text


def test_clean_pdf_pages_joins_soft_wraps() -> None:
    text = clean_pdf_pages(["first line of a long paragraph that keeps\ngoing on the next line."])
    assert text == "first line of a long paragraph that keeps going on the next line."


def test_encrypted_pdf_is_refused() -> None:
    data = make_pdf([["secret text"]], encrypt="pw")
    with pytest.raises(DocumentError, match="encrypted"):
        parse_bytes(data, "locked.pdf")


def test_corrupt_pdf_is_refused() -> None:
    with pytest.raises(DocumentError, match="corrupt or unreadable PDF"):
        parse_bytes(b"%PDF-1.7\n%garbage that is not a pdf body\n", "broken.pdf")


def test_pdf_without_text() -> None:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.rect(10, 10, 100, 100)
    pdf.showPage()
    pdf.save()
    with pytest.raises(DocumentError, match="no extractable text"):
        parse_bytes(buffer.getvalue(), "scan.pdf")


def test_docx_paragraphs_tables_and_title() -> None:
    data = make_docx(PARAGRAPHS, title="Commitments", table=[["Target", "Year"], ["Schools", "2030"]])
    doc = parse_bytes(data, "c.docx")
    assert doc.meta.title == "Commitments"
    assert doc.text.split("\n\n")[:2] == PARAGRAPHS
    assert "Schools | 2030" in doc.text


def test_corrupt_docx_and_plain_zip() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word file")
    with pytest.raises(UnsupportedFormatError, match="ZIP archive"):
        parse_bytes(buffer.getvalue(), "fake.docx")
    with pytest.raises(DocumentError):
        parse_bytes(b"PK\x03\x04" + b"\x00" * 50, "broken.docx")


def test_html_main_text_without_navigation() -> None:
    html = f"""<!doctype html><html><head><title>GDC note</title>
    <script>var tracking = 1;</script></head><body>
    <nav><a href="/">Home</a> <a href="/about">About us</a></nav>
    <main><h1>Connectivity</h1><p>{PARAGRAPHS[0]}</p><p>{PARAGRAPHS[1]}</p></main>
    <footer>Copyright footer</footer></body></html>"""
    doc = parse_bytes(html.encode(), "page.html")
    assert doc.meta.title == "GDC note"
    assert PARAGRAPHS[0] in doc.text and PARAGRAPHS[1] in doc.text
    assert "tracking" not in doc.text
    assert "About us" not in doc.text


@pytest.mark.parametrize(
    ("data", "name", "error"),
    [
        (b"", "empty.txt", "empty"),
        (b"   \n\n  ", "blank.md", "empty"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image.pdf", "does not match"),
        (b"plain words", "notes.xyz", "unsupported file type"),
        (b"\x00\x01\x02binary" * 20, "data.txt", "does not match"),
    ],
)
def test_bad_inputs_name_the_file_and_reason(data: bytes, name: str, error: str) -> None:
    with pytest.raises(DocumentError, match=error) as info:
        parse_bytes(data, name)
    assert info.value.path == name


def test_detect_format_by_content() -> None:
    assert detect_format(make_pdf([["x y z"]]), "a.pdf") == "pdf"
    assert detect_format(make_docx(["x"]), "a.docx") == "docx"
    assert detect_format(b"<html><body>x</body></html>", "a.htm") == "html"
    with pytest.raises(UnsupportedFormatError):
        detect_format(make_pdf([["x"]]), "a.docx")


def test_folder_ingest_uses_manifest_reports_errors_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(PARAGRAPHS[0])
    (tmp_path / "other.txt").write_text(PARAGRAPHS[1])
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "manifest.csv").write_text(
        "file,title,organization,kind,date\ngood.txt,Good Doc,ITU,input,2025-01\n")
    report = load_paths([tmp_path])
    by_source = {d.meta.source: d.meta for d in report.documents}
    assert by_source["good.txt"] == DocumentMeta("Good Doc", "ITU", "input", "2025-01", "good.txt")
    assert by_source["other.txt"].title == PARAGRAPHS[1]  # no manifest row: from the file
    assert sorted(Path(e.path).name for e in report.errors) == ["bad.pdf", "empty.md"]


def test_missing_file() -> None:
    with pytest.raises(DocumentError, match="no such file"):
        read_document("/definitely/not/here.txt")
