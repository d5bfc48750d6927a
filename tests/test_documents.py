from pathlib import Path

import pytest

from qa.documents import (
    SkippedFile,
    SourceDocument,
    html_to_text,
    load_corpus,
    markdown_to_text,
    parse_document,
    read_source_text,
    save_upload,
    source_path,
    upload_name,
)


def test_html_is_indexed_as_text_without_markup_or_page_furniture():
    html = ("<html><head><style>p{color:red}</style><script>var x=1;</script></head><body>"
            "<nav>Home | About</nav><h1>Xiaomi&nbsp;EV</h1><p>The plant makes <b>300,000</b> cars.</p>"
            "<footer>Copyright</footer></body></html>")
    text = html_to_text(html)
    assert text == "Xiaomi EV\n\nThe plant makes 300,000 cars."
    for markup in ("<", "color:red", "var x", "Home | About", "Copyright"):
        assert markup not in text


def test_markdown_is_indexed_as_text_without_syntax():
    text = markdown_to_text("# Title\n\nSome **bold** claim with a [link](http://x.example).\n\n- item one\n")
    assert "Title" in text and "bold" in text and "link" in text and "item one" in text
    for syntax in ("#", "**", "](", "http://x.example"):
        assert syntax not in text


def test_binary_undecodable_and_empty_files_are_skipped_with_reasons(tmp_path: Path):
    (tmp_path / "good.txt").write_text("Xiaomi builds cars.", encoding="utf-8")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (tmp_path / "garbled.md").write_bytes(bytes([0x80, 0x81, 0xFE, 0xFF, 0xC3]) * 50)
    (tmp_path / "empty.html").write_text("<html><body>   </body></html>")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / ".hidden.txt").write_text("secret")
    documents, skipped = load_corpus(tmp_path)
    assert [d.source for d in documents] == [f"{tmp_path.name}/good.txt"]
    reasons = {s.source.split("/")[-1]: s.reason for s in skipped}
    assert reasons["image.txt"] == "binary or not decodable as text"
    assert reasons["garbled.md"] == "binary or not decodable as text"
    assert reasons["empty.html"] == "no text"
    assert reasons["notes.pdf"].startswith("broken PDF")
    assert reasons["photo.png"] == "unsupported file type .png"
    assert ".hidden.txt" not in reasons


def test_latin1_text_is_read_rather_than_dropped():
    data = ("Le café de Xiaomi à Pékin a ouvert en décembre, près de l'usine. " * 5).encode("cp1252")
    document = parse_document("corpus/cafe.txt", data)
    assert "café" in document.text


def test_missing_corpus_folder_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "nope")


def test_uploads_stay_inside_the_corpus_folder(tmp_path: Path):
    corpus = tmp_path / "docs"
    saved = save_upload(corpus, "../../etc/evil.txt", b"hello")
    assert saved == corpus.resolve() / "evil.txt"
    assert not (tmp_path / "etc").exists()
    assert save_upload(corpus, "C:\\Users\\me\\notes.md", b"# hi").name == "notes.md"
    for bad in ("", "..", ".bashrc", "photo.png", "bad\nname.txt"):
        with pytest.raises(ValueError):
            save_upload(corpus, bad, b"x")
    with pytest.raises(ValueError):
        source_path(corpus, "docs/../../outside.txt")


def test_source_text_reads_back_what_was_indexed(tmp_path: Path):
    (tmp_path / "page.html").write_text("<p>One.</p><p>Two.</p>")
    assert read_source_text(tmp_path, f"{tmp_path.name}/page.html") == "One.\n\nTwo."


def test_inline_markup_stays_inside_its_sentence_and_blocks_end_one():
    html = ("<p>The <b>reactor</b> in the <a href='x'>north wing</a> makes <code>42</code> <em>MW</em>.<br>"
            "Next line.</p><ul><li>one</li><li>two <i>items</i></li></ul>"
            "<table><tr><td>cell a</td><td>cell b</td></tr></table><h2>Heading<a class='headerlink' href='#h'>¶</a></h2>"
            "<pre>x = 1\ny = 2</pre><!-- a comment --><div role='navigation'>Previous | Next</div>")
    assert html_to_text(html) == ("The reactor in the north wing makes 42 MW.\nNext line.\n\none\n\ntwo items\n\n"
                                  "cell a\n\ncell b\n\nHeading\n\nx = 1\ny = 2")


def test_a_definition_term_opens_the_first_sentence_of_its_definition():
    html = ("<dl><dt>shlex.quote(s)<a class='headerlink' href='#q'>¶</a></dt>"
            "<dd><p>Return a shell-escaped version of the string <em>s</em>.</p><p>New in 3.3.</p></dd>"
            "<dt>Glossary term:</dt><dd>Its plain definition.</dd>"
            "<dt>example()</dt><dd><pre>&gt;&gt;&gt; example()</pre></dd>"
            "<dt>first()</dt><dt>second()</dt><dd><p>Both do it.</p></dd></dl><dl><dt>alone</dt></dl>")
    assert html_to_text(html) == (
        "shlex.quote(s): Return a shell-escaped version of the string s.\n\nNew in 3.3.\n\n"
        "Glossary term: Its plain definition.\n\n"
        "example()\n\n>>> example()\n\n"  # code is not prose: the term stays a line of its own
        "first()\n\nsecond(): Both do it.\n\nalone")


def test_markdown_inline_elements_stay_inside_their_sentence():
    text = markdown_to_text("# Title\n\nThe **reactor** makes `42` MW, says [the report](http://x.example),\n"
                            "a wrapped line.\n\n- item *one*\n\n```\ncode line\n```\n")
    assert text == "Title\n\nThe reactor makes 42 MW, says the report, a wrapped line.\n\nitem one\n\ncode line"


def test_deeply_nested_and_very_wide_html_is_read_in_one_pass():
    assert html_to_text("<div>" * 50_000 + "deep <b>text</b>" + "</div>" * 50_000) == "deep text"
    assert html_to_text("<p>x</p>" * 20_000) == "\n\n".join(["x"] * 20_000)


def test_utf16_with_a_bom_is_text():
    data = "\ufeffThe plant in Beijing makes 300,000 cars a year. Café.".encode("utf-16-le")
    for encoded in (b"\xff\xfe" + data[2:], "The plant makes cars.".encode("utf-16")):
        document = parse_document("corpus/notes.txt", encoded)
        assert isinstance(document, SourceDocument), document
        assert document.text.startswith("The plant") and "\ufeff" not in document.text and "\x00" not in document.text


def test_stray_nul_bytes_are_dropped_and_a_mostly_nul_file_is_binary():
    document = parse_document("corpus/notes.txt", b"The plant makes\x00 300,000 cars a year." * 20)
    assert isinstance(document, SourceDocument) and "\x00" not in document.text
    assert "The plant makes 300,000 cars" in document.text
    assert isinstance(parse_document("corpus/notes.txt", b"ab\x00\x00" * 100), SkippedFile)


def test_utf8_with_a_few_broken_bytes_is_not_turned_into_mojibake():
    data = "Le café de Xiaomi à Pékin a ouvert en décembre. ".encode() * 10 + b"\xff broken byte."
    document = parse_document("corpus/cafe.txt", data)
    assert "café" in document.text and "Pékin" in document.text and "Ã" not in document.text
    assert document.text.endswith("\ufffd broken byte.")


def test_names_that_cannot_be_shown_or_stored_are_refused_for_uploads():
    with pytest.raises(ValueError, match="control characters"):
        upload_name("two\nlines.txt")
    assert upload_name("-dash.md") == "-dash.md"
    assert upload_name("rapport été 日本.pdf") == "rapport été 日本.pdf"
