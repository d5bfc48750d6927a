"""An OpenAI-compatible chat-completions endpoint (/v1), so OpenAI clients and front ends can use qa as a model.

The reply is the answer with its [n] markers and a "Sources" list; the citations themselves,
with their spans, ride in an extra `citations` field (of the response, or of the last
stream chunk), with `refused`.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from qa.answer import Partial
from qa.http_api import Answering
from qa.http_common import ApiError
from qa.schema import Answer

MODEL_NAME = "qa"
WORDS_PER_CHUNK = 8  # a streamed answer arrives in pieces of about this many words


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's request; sampling parameters and tools are accepted and ignored (qa's answerer decides)."""

    model_config = ConfigDict(extra="allow")
    model: str = MODEL_NAME
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    files: list[str] | None = Field(None, description="qa's extra: answer only from these files.")


def message_text(message: ChatMessage) -> str:
    """A message's text, from a plain string or from OpenAI's list of content parts."""
    if isinstance(message.content, list):
        return "\n".join(str(part.get("text", "")) for part in message.content if part.get("type") == "text")
    return message.content or ""


def conversation(messages: list[ChatMessage]) -> tuple[str, list[str]]:
    """The question (the last message, the user's) and the earlier user turns as history."""
    if messages[-1].role != "user":
        raise ApiError(400, "The last message must be the user's question.")
    asked = [message_text(message) for message in messages if message.role == "user"]
    return asked[-1], [text for text in asked[:-1] if text.strip()]


def reply_text(answer: Answer) -> str:
    """The assistant message: the answer with its [n] markers, then the numbered sources; a refusal as it is."""
    if answer.refused or not answer.citations:
        return answer.text
    sources = [f"- [{c.number}] {c.source}{c.page_note}, characters {c.start}-{c.end}: \"{' '.join(c.quote.split())}\""
               for c in answer.citations]
    return "\n".join([answer.text, "", "Sources:", *sources])


def extras(answer: Answer) -> dict[str, Any]:
    """What qa adds to OpenAI's response: every citation with its span, and whether it refused."""
    return {"citations": [asdict(citation) for citation in answer.citations], "refused": answer.refused}


def completion(answer: Answer, completion_id: str, created: int) -> dict[str, Any]:
    message = {"role": "assistant", "content": reply_text(answer)}
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_NAME,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, **extras(answer)}


def pieces(text: str, words: int = WORDS_PER_CHUNK) -> list[str]:
    """`text` in runs of `words` words; joined, they give `text` back exactly."""
    tokens = re.split(r"(?<=\s)(?=\S)", text)
    return [text] if len(tokens) <= 1 else ["".join(tokens[i:i + words]) for i in range(0, len(tokens), words)]


def sse_events(updates: Iterable[Partial | Answer], completion_id: str, created: int) -> Iterator[str]:
    """The answer as server-sent chat.completion.chunk events: role, text pieces, a last chunk with the citations.

    A generative answerer's claims are sent as each one passes the citation check (the checked text only
    grows); what is still unchecked is never sent. The rest of the reply (all of an extractive answer, the
    sources) follows once the Answer is complete.
    """
    head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": MODEL_NAME}

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra}
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    yield event({"role": "assistant", "content": ""})
    sent, answer = "", None
    for update in updates:
        if isinstance(update, Answer):
            answer = update
        elif update.checked.startswith(sent) and len(update.checked) > len(sent):
            yield event({"content": update.checked[len(sent):]})
            sent = update.checked
    if answer is None:  # the engine always ends with an Answer; a broken stream still ends well-formed
        yield "data: [DONE]\n\n"
        return
    full = reply_text(answer)
    rest = full[len(sent):] if full.startswith(sent) else f"\n\n{full}"
    for piece in pieces(rest):
        yield event({"content": piece})
    yield event({}, "stop", **extras(answer))
    yield "data: [DONE]\n\n"


def openai_router(answering: Answering) -> APIRouter:
    """The /v1 routes (add the client guard when including it)."""
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])
    listed = int(time.time())

    @router.get("/models", summary="The one model: qa")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "created": listed, "owned_by": "qa"}]}

    @router.post("/chat/completions", summary="Answer the last user message; earlier user turns are its history")
    def chat_completions(request: ChatRequest) -> Any:
        question, history = conversation(request.messages)
        completion_id, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())
        if request.stream:
            updates = answering.stream(question, history, request.files)
            first = next(updates)  # bad questions and unknown files fail here, as a JSON error, before streaming
            return StreamingResponse(sse_events(itertools.chain([first], updates), completion_id, created),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return completion(answering.ask(question, history, request.files), completion_id, created)

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def unknown(rest: str) -> None:
        raise ApiError(404, f"No route /v1/{rest}: qa serves /v1/models and /v1/chat/completions.")

    return router
