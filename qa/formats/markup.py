"""HTML and Markdown to plain text: inline elements stay inside their sentence, block elements end it.

`<p>The <b>reactor</b> in …</p>` is one line "The reactor in …"; paragraphs, list items,
table cells, headings and `<pre>` lines are lines of their own (a line break always ends a
sentence, qa/sentences.py). Blocks are separated by a blank line, `<br>` and the lines of
`<pre>` by a single line break. A definition term opens its definition's first paragraph
("shlex.quote(s): Return a shell-escaped version of the string s."): API references and
glossaries name their subject only in the term, and a sentence cut from it could not say
which function returns what.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, CData, NavigableString, PageElement, Tag
from markdown_it import MarkdownIt

from qa.formats import ParsedText, Unreadable
from qa.formats.text import decoded

# Page furniture that carries no content; dropped before the text is indexed.
_NOISE_TAGS = {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template", "button",
               "select", "svg", "iframe", "object"}
# Navigation, search boxes and banners marked by role (Sphinx's sidebars and breadcrumbs are <div role=...>).
_NOISE_ROLES = {"navigation", "search", "banner", "contentinfo"}
# Elements that start and end a block of text; everything else (a, b, em, code, span, ...) is inline.
_BLOCK_TAGS = {
    "address", "article", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "html", "legend", "li", "main",
    "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "title", "tr", "ul",
}
# Private-use characters as break markers while the tree is flattened (removed from the input first).
_BLOCK, _LINE, _JOIN = "\ue000", "\ue001", "\ue002"
_JOINED = re.compile(f":?\\s*[{_JOIN}][{_BLOCK}\\s]*")  # a term's own colon is not doubled


def html_to_text(html: str) -> str:
    soup = BeautifulSoup(re.sub(f"[{_BLOCK}{_LINE}{_JOIN}]", "", html), "html.parser")
    blocks = []
    for block in _JOINED.sub(": ", _flatten(soup)).split(_BLOCK):
        lines = (" ".join(line.split()) for line in block.split(_LINE))
        text = "\n".join(line for line in lines if line)
        if text:
            blocks.append(text)
    return "\n\n".join(blocks)


def _flatten(soup: BeautifulSoup) -> str:
    """The text of the tree with block and line markers; an explicit stack, so any nesting depth works
    in one pass (a recursive walk overflows on deep pages, editing the tree is quadratic on wide ones)."""
    out: list[str] = []
    in_pre = 0
    stack: list[tuple[PageElement, bool]] = [(soup, False)]
    while stack:
        node, closing = stack.pop()
        if closing:  # the end of a block (and of a <pre>)
            out.append(_JOIN if _opens_its_definition(node) else _BLOCK)
            in_pre -= node.name == "pre"
        elif isinstance(node, Tag):
            if _is_noise(node):
                continue
            if node.name == "br":
                out.append(_LINE)
                continue
            if node.name in _BLOCK_TAGS:
                out.append(_BLOCK)
                in_pre += node.name == "pre"
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        elif type(node) in (NavigableString, CData):  # not comments, doctypes or processing instructions
            out.append(node.replace("\n", _LINE) if in_pre else node)
    return "".join(out)


def _opens_its_definition(tag: Tag) -> bool:
    """A <dt> whose <dd> follows and starts with prose (not code, a list or a table)."""
    if tag.name != "dt" or not tag.get_text(strip=True):
        return False
    definition = tag.find_next_sibling(True)
    if definition is None or definition.name != "dd":
        return False
    first = next((child for child in definition.children
                  if isinstance(child, Tag) or (type(child) is NavigableString and child.strip())), None)
    return first is not None and (not isinstance(first, Tag) or first.name in ("p", "span", "em", "strong", "b", "i", "a"))


def _is_noise(tag: Tag) -> bool:
    if tag.name in _NOISE_TAGS or tag.get("role") in _NOISE_ROLES:
        return True
    # The "¶" anchors Sphinx and MkDocs put after headings.
    return tag.name == "a" and "headerlink" in (tag.get("class") or [])


def markdown_to_text(markdown: str) -> str:
    return html_to_text(MarkdownIt("commonmark").render(markdown))


def _text_of(text: str) -> ParsedText:
    if not text.strip():
        raise Unreadable("no text")
    return ParsedText(text)


class HtmlFormat:
    name = "html"
    suffixes = (".html", ".htm")

    def parse(self, data: bytes) -> ParsedText:
        return _text_of(html_to_text(decoded(data)))


class MarkdownFormat:
    name = "markdown"
    suffixes = (".md", ".markdown")

    def parse(self, data: bytes) -> ParsedText:
        return _text_of(markdown_to_text(decoded(data)))
