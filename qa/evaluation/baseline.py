"""The baseline: llama-index out of the box in front of qa's own answerer.

VectorStoreIndex.from_documents with llama-index's default SentenceSplitter (1024-token
chunks, 200 overlap), its in-memory vector store and its default retriever (top 2 by
cosine), over the same documents and the same MiniLM model as qa. The retrieved chunks
are split into sentences (qa.sentences) and handed to the engine's own answerer (the
reader, the decision and the ExtractiveAnswerer unless QA_ANSWERER says otherwise), so the difference between the two
systems in the report is what qa's chunking, hybrid retrieval, sentence vectors and
conversation handling add. The sentences are embedded once, when the index is built, as
qa embeds its sentences at ingestion, so the latencies compare the two query paths. Only
an index and a retriever are built: nothing here asks llama-index's global Settings for
an LLM (which would resolve OpenAI).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import QueryBundle, TextNode
from tqdm import tqdm

from qa.documents import SourceDocument
from qa.embedding import MiniLMEmbedding
from qa.retrieve import TermStatistics
from qa.schema import Answer
from qa.sentences import sentence_spans
from qa.store_records import SentenceRecord

if TYPE_CHECKING:
    from qa.engine import Engine

_PROGRESS_STEP = 256  # sentences per encode call, so the progress bar moves


class LlamaIndexBaseline:
    """Answers single questions; it has no conversation memory (llama-index's chat engines need an LLM)."""

    def __init__(self, documents: Sequence[SourceDocument], embedder: MiniLMEmbedding, engine: Engine,
                 show_progress: bool = False) -> None:
        self.embedder = embedder
        self.engine = engine
        # SentenceSplitter() is what from_documents uses when llama-index's global Settings are
        # untouched; passing it keeps the baseline the default even if other code changed them.
        index = VectorStoreIndex.from_documents(
            [Document(text=doc.text, metadata={"source": doc.source}) for doc in documents],
            embed_model=embedder, transformations=[SentenceSplitter()], show_progress=show_progress,
        )
        self.retriever = index.as_retriever()
        nodes = [node for node in index.docstore.docs.values() if isinstance(node, TextNode)]
        self.statistics = TermStatistics(nodes)
        self.sentences = sentence_records(nodes, embedder, show_progress)

    def ask(self, question: str) -> Answer:
        query_vector = np.asarray(self.embedder.get_query_embedding(question), dtype=np.float32)
        hits = self.retriever.retrieve(QueryBundle(question, embedding=query_vector.tolist()))
        sentences = [record for hit in hits for record in self.sentences[hit.node.node_id]]
        return self.engine.respond(self.engine.ranker.rank(question, question, query_vector, hits, sentences,
                                                           self.statistics))


def sentence_records(nodes: Sequence[TextNode], embedder: MiniLMEmbedding,
                     show_progress: bool = False) -> dict[str, list[SentenceRecord]]:
    """Each chunk's sentences, embedded on their own, with their spans in the document."""
    pieces = []
    for node in nodes:
        # llama-index's node parsers set start_char_idx by finding the chunk in its document.
        text, offset = node.get_content(), node.start_char_idx or 0
        pieces += [(node, offset + span.start, offset + span.end, text[span.start:span.end])
                   for span in sentence_spans(text)]
    sentences = [sentence for *_, sentence in pieces]
    vectors = []
    with tqdm(total=len(sentences), unit="sentence", desc="Baseline sentences", disable=not show_progress) as bar:
        for first in range(0, len(sentences), _PROGRESS_STEP):
            batch = sentences[first:first + _PROGRESS_STEP]
            vectors.extend(embedder.encode(batch))
            bar.update(len(batch))
    records: dict[str, list[SentenceRecord]] = {node.node_id: [] for node in nodes}
    for (node, start, end, sentence), vector in zip(pieces, vectors):
        records[node.node_id].append(
            SentenceRecord(node.node_id, node.metadata["source"], start, end, sentence, vector))
    return records
