"""Token-bounded chunks made of whole sentences, each knowing its exact span in its document."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from llama_index.core.node_parser import NodeParser
from llama_index.core.schema import BaseNode, Document, NodeRelationship, TextNode
from llama_index.core.utils import get_tokenizer
from pydantic import Field, PrivateAttr

from qa.formats import chunk_pages
from qa.sentences import Span, published_date, sentence_spans


def count_tokens_function() -> Callable[[str], int]:
    """tiktoken's cl100k counter, loaded from llama-index-core's bundled cache (no download)."""
    encode = get_tokenizer()
    return lambda text: len(encode(text))


class SentenceChunker(NodeParser):
    """Packs whole sentences into chunks of at most `chunk_size` tokens, repeating up to
    `chunk_overlap` tokens of trailing sentences at the start of the next chunk."""

    chunk_size: int = Field(default=160, gt=0)
    chunk_overlap: int = Field(default=32, ge=0)
    _count_tokens: Callable[[str], int] = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        self._count_tokens = count_tokens_function()

    def chunk_spans(self, text: str) -> list[Span]:
        """The chunk spans of one text, in order."""
        units = self.units(text)
        chunks: list[Span] = []
        current: list[tuple[Span, int]] = []
        for unit in units:
            if current and sum(n for _, n in current) + unit[1] > self.chunk_size:
                chunks.append(Span(current[0][0].start, current[-1][0].end))
                current = self._overlap_tail(current, room=self.chunk_size - unit[1])
            current.append(unit)
        if current:
            chunks.append(Span(current[0][0].start, current[-1][0].end))
        return chunks

    def _overlap_tail(self, sentences: list[tuple[Span, int]], room: int) -> list[tuple[Span, int]]:
        tail: list[tuple[Span, int]] = []
        budget = min(self.chunk_overlap, room)
        for span, tokens in reversed(sentences):
            if tokens > budget:
                break
            tail.insert(0, (span, tokens))
            budget -= tokens
        return tail

    def units(self, text: str) -> list[tuple[Span, int]]:
        """Sentences and their token counts, any sentence longer than a chunk cut at word boundaries."""
        units: list[tuple[Span, int]] = []
        for span in sentence_spans(text):
            tokens = self._count_tokens(text[span.start:span.end])
            if tokens <= self.chunk_size:
                units.append((span, tokens))
                continue
            start = span.start
            words = [m for m in _word_ends(text, span)]
            piece_end = start
            for word_end in words:
                if piece_end > start and self._count_tokens(text[start:word_end]) > self.chunk_size:
                    units.append((Span(start, piece_end), self._count_tokens(text[start:piece_end])))
                    start = piece_end + (len(text[piece_end:word_end]) - len(text[piece_end:word_end].lstrip()))
                piece_end = word_end
            units.append((Span(start, span.end), self._count_tokens(text[start:span.end])))
        return units

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any) -> list[BaseNode]:
        chunks: list[BaseNode] = []
        for document in nodes:
            text = document.get_content()
            # Identical files under two names must not share chunk ids.
            prefix = hashlib.sha256(f"{document.metadata['source']}\0{document.metadata['content_hash']}".encode()).hexdigest()[:20]
            page_starts = document.metadata.get("page_starts") or ()
            metadata = {key: value for key, value in document.metadata.items() if key != "page_starts"}
            for number, span in enumerate(self.chunk_spans(text)):
                if page_starts:  # the pages this chunk spans, so its citations can name theirs
                    metadata = {**metadata, "pages": chunk_pages(page_starts, span.start, span.end)}
                chunks.append(
                    TextNode(
                        id_=f"{prefix}-{number}",
                        text=text[span.start:span.end],
                        start_char_idx=span.start,
                        end_char_idx=span.end,
                        metadata=dict(metadata),
                        relationships={NodeRelationship.SOURCE: document.as_related_node_info()},
                    )
                )
        return chunks


    def _postprocess_parsed_nodes(self, nodes: list[BaseNode], parent_doc_map: dict[str, Document]) -> list[BaseNode]:
        nodes = super()._postprocess_parsed_nodes(nodes, parent_doc_map)
        for node in nodes:  # llama-index merges the document's metadata back in; its page list is not the chunk's
            node.metadata.pop("page_starts", None)
        return nodes


def _word_ends(text: str, span: Span) -> list[int]:
    ends, position = [], span.start
    for word in text[span.start:span.end].split(" "):
        position += len(word)
        ends.append(position)
        position += 1
    return ends


def to_llama_documents(documents: Sequence[Any]) -> list[Document]:
    """llama-index Documents for qa's SourceDocuments, keyed by source name; a paged document's page
    starts ride along for the chunker, which gives each chunk its own pages instead."""
    result = []
    for doc in documents:
        metadata = {"source": doc.source, "content_hash": doc.content_hash, "published": published_date(doc.text)}
        if getattr(doc, "page_starts", ()):
            metadata["page_starts"] = list(doc.page_starts)
        result.append(Document(id_=doc.source, text=doc.text, metadata=metadata))
    return result
