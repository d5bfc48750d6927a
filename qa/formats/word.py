"""Word (.docx) files: paragraphs, headings and tables in document order (python-docx)."""

from __future__ import annotations

import io

from qa.formats import ParsedText, Unreadable

_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # a compound file: an encrypted .docx or an old .doc renamed


class DocxFormat:
    name = "docx"
    suffixes = (".docx",)

    def parse(self, data: bytes) -> ParsedText:
        import docx
        from docx.table import Table

        if data.startswith(_OLE_MAGIC):
            raise Unreadable("encrypted Word document (password-protected) or an old .doc file; qa cannot read it")
        try:
            document = docx.Document(io.BytesIO(data))
            blocks = []
            for item in document.iter_inner_content():
                blocks.append(_table_text(item) if isinstance(item, Table) else _lines(item.text))
        except Exception as error:  # python-docx, zipfile and lxml raise many kinds on damaged files
            raise Unreadable(f"broken Word document ({type(error).__name__}: {str(error)[:120]})") from error
        text = "\n\n".join(block for block in blocks if block)
        if not text.strip():
            raise Unreadable("no text")
        return ParsedText(text)


def _lines(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _table_text(table) -> str:
    """One line per row, cells separated by " | " (a merged cell once), so a row reads as one record."""
    rows = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is not previous:  # python-docx repeats a merged cell for each grid column it spans
                cells.append(" ".join(cell.text.split()))
            previous = cell._tc
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)
