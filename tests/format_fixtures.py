"""Real PDF and Word files for tests, written by real libraries (matplotlib's PDF backend, pypdf, python-docx)."""

from __future__ import annotations

import io
from collections.abc import Sequence


def pdf_bytes(pages: Sequence[Sequence[str]], image_only: bool = False) -> bytes:
    """A PDF with one page per item, each line of it drawn as text (or, `image_only`, a page that is just a
    picture, as a scanner makes)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["pdf.fonttype"] = 42  # TrueType with a Unicode map: a real text layer
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer) as pdf:
        for lines in pages:
            figure = plt.figure(figsize=(8.27, 11.69))
            if image_only:
                figure.figimage(np.random.default_rng(0).random((200, 150)), cmap="gray")
            for number, line in enumerate(lines):
                figure.text(0.08, 0.92 - 0.02 * number, line, fontsize=10)
            pdf.savefig(figure)
            plt.close(figure)
    return buffer.getvalue()


def encrypted_pdf_bytes(pages: Sequence[Sequence[str]], password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(pages))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def docx_bytes(heading: str, paragraphs: Sequence[str], table: Sequence[Sequence[str]] = ()) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for row, values in zip(grid.rows, table):
            for cell, value in zip(row.cells, values):
                cell.text = value
    document.add_paragraph("The end of the report.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
