"""Plain text files, and the decoding every text-based format shares."""

from __future__ import annotations

import re

from qa.formats import ParsedText, Unreadable

_BOMS = [(b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")]
# A valid multi-byte UTF-8 sequence: its presence says the file is UTF-8 even when a few bytes are broken.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")
MAX_NUL_SHARE = 0.1  # text with stray NULs is text; a file that is 10% NULs is binary (or UTF-16 without a BOM)
MAX_CONTROL_SHARE = 0.05  # other control characters: a few are typos, many mean binary that happened to decode
_CONTROL = re.compile(r"[\x01-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(data: bytes) -> str | None:
    """The text of a file's bytes, or None for binary or garbled bytes.

    UTF-16/32 with a BOM, UTF-8 (a few broken bytes become U+FFFD rather than turning the
    whole file into mojibake), else a confident guess at a legacy encoding (cp1252, ...).
    Stray NUL characters are dropped: they are invisible and break what shows the text.
    """
    text = _decode(data)
    if text is not None and len(_CONTROL.findall(text)) > MAX_CONTROL_SHARE * len(text):
        return None
    return text


def _decode(data: bytes) -> str | None:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace").lstrip("\ufeff").replace("\x00", "")
    nuls = data.count(b"\x00")
    if nuls > MAX_NUL_SHARE * len(data):
        return None
    if nuls:
        data = data.replace(b"\x00", b"")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    valid = sum(len(m.group(0)) for m in _UTF8_SEQUENCE.finditer(data))
    if valid and valid >= len(_HIGH_BYTE.findall(data)) - valid:
        return data.decode("utf-8-sig", errors="replace")
    from charset_normalizer import from_bytes

    guess = from_bytes(data).best()
    if guess is None or guess.chaos > 0.1:
        return None
    return str(guess)


def decoded(data: bytes) -> str:
    """decode_text, raising Unreadable for bytes that are not text."""
    text = decode_text(data)
    if text is None:
        raise Unreadable("binary or not decodable as text")
    return text


class PlainTextFormat:
    name = "text"
    suffixes = (".txt", ".text")

    def parse(self, data: bytes) -> ParsedText:
        return ParsedText(decoded(data))
