"""One settings object for the whole program, read once; QA_* environment variables override."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as PydanticSettingsError

from qa.schema import SettingsError

# Settings whose values are secrets: an error names the variable but never repeats its value.
_SECRET = {"auth", "api_key", "llm_api_key"}


def parse_logins(auth: str) -> list[tuple[str, str]]:
    """`user:password[,user:password...]` as a list of logins; ValueError if malformed."""
    logins = []
    for pair in auth.split(","):
        user, colon, password = pair.strip().partition(":")
        if not (user and colon and password):
            raise ValueError("must look like user:password, or several separated by commas")
        logins.append((user, password))
    return logins


class Settings(BaseSettings):
    """Every knob of qa. `QA_CHUNK_SIZE=200 qa ask ...` overrides chunk_size, and so on."""

    model_config = SettingsConfigDict(env_prefix="QA_", frozen=True)

    corpus_dir: Path = Field(Path("seeds"), description="Folder of documents to index.")
    index_dir: Path = Field(Path("index"), description="Folder of the persistent Chroma store.")
    collection: str = Field("qa", description="Chroma collection name.")
    chroma_host: str | None = Field(
        None, description="Chroma server host; when set, qa talks to `chroma run` instead of index_dir."
    )
    chroma_port: int = Field(8000, description="Chroma server port.")

    chunk_size: int = Field(160, ge=32, le=230, description="Chunk length in tiktoken tokens.")
    chunk_overlap: int = Field(32, ge=0, description="Tokens of whole sentences repeated between chunks.")
    embed_batch_size: int = Field(32, ge=1, description="Chunks per embedding batch.")

    dense_top_k: int = Field(8, ge=1, description="Chunks fetched by embedding similarity.")
    keyword_top_k: int = Field(8, ge=1, description="Chunks fetched by BM25.")
    top_k: int = Field(5, ge=1, description="Chunks kept after fusing both lists.")
    max_answer_sentences: int = Field(4, ge=1, description="Most sentences quoted in one answer.")
    refusal_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="Refuse when the best sentence's probability of answering is below this; "
                    "unset: the threshold calibrated with the reader (see README).",
    )
    reader_dir: Path | None = Field(
        None, description="Folder of a reader model made by `make train`; unset: the one shipped with qa."
    )
    # On the held-out test articles the 9th-12th by the pre-reader score almost never win (51.2% answered
    # right reading 12, 51.0% reading 8): reading 8 takes 41 ms instead of 75 (p50).
    reader_candidates: int = Field(8, ge=1, description="Sentences the reader reads per question (the best by the "
                                   "pre-reader score).")
    decision: Literal["hand-fitted", "learned"] = Field(
        "hand-fitted", description="How qa decides to answer or refuse: the hand-fitted rule, or the decision "
                                   "learned with the reader (better on held-out SQuAD-Shifts articles, worse on seeds/; README)."
    )
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are rejected.")
    max_file_bytes: int = Field(20_000_000, description="Larger corpus files are skipped.")

    answerer: str = Field(
        "extractive", description="extractive quotes the corpus; openai asks an OpenAI-compatible server; "
                                  "local runs llama.cpp in this process on the GGUF file llm_model_path."
    )
    llm_base_url: str = Field("http://127.0.0.1:8080/v1", description="OpenAI-compatible endpoint.")
    llm_model: str = Field("local", description="Model name sent to the endpoint.")
    llm_api_key: str = Field("not-needed", description="API key for the endpoint.")
    llm_timeout: float = Field(60.0, gt=0, description="Seconds one answer may take the model; longer is a refusal.")
    llm_max_tokens: int = Field(160, ge=16, description="Most tokens the model may write per answer.")
    llm_model_path: Path | None = Field(None, description="GGUF file for the local answerer (python -m qa.models_fetch).")
    llm_threads: int = Field(2, ge=1, description="CPU threads llama.cpp uses (local answerer).")
    llm_context: int = Field(4096, ge=512, description="llama.cpp's context length in tokens (local answerer).")

    examples: list[str] | None = Field(
        None,
        description="Questions the chat offers on a fresh chat (JSON list); unset: none are offered, since "
                    "good questions depend on the documents.",
    )
    host: str = Field("127.0.0.1", description="Address the chat UI binds.")
    port: int = Field(7860, description="Port of the chat UI.")
    auth: str | None = Field(
        None, description="'user:password' (or several, comma-separated) to require a login in the chat UI; "
                          "each login then has its own conversations."
    )
    history_dir: Path | None = Field(
        None, description="Folder of the chat's SQLite file of conversations and feedback; unset: index_dir/history."
    )

    @field_validator("auth")
    @classmethod
    def _logins(cls, auth: str | None) -> str | None:
        if auth is not None:
            parse_logins(auth)
        return auth

    @property
    def history_folder(self) -> Path:
        return self.history_dir or self.index_dir / "history"

    api_key: SecretStr | None = Field(
        None, description="Bearer token every /api, /v1 and /healthz request must carry; unset: loopback clients only."
    )
    cors_origins: list[str] = Field([], description="Browser origins allowed to call the API (JSON list); none: CORS off.")
    max_request_bytes: int = Field(1_000_000, ge=1024, description="Largest JSON request body the API accepts.")
    max_upload_bytes: int = Field(
        25_000_000, ge=1024, description="Largest upload request (all files together); each file must also fit max_file_bytes."
    )
    api_concurrency: int = Field(10, ge=1, description="API answers computed at once; more requests wait.")


def settings_message(error: ValidationError) -> str:
    """What is wrong with the QA_* environment, one line per variable, without repeating secrets."""
    lines = []
    for problem in error.errors():
        field = str(problem.get("loc", ("?",))[0])
        shown = "" if field in _SECRET or "input" not in problem else f" (got {str(problem['input'])[:80]!r})"
        lines.append(f"QA_{field.upper()}: {problem.get('msg', 'invalid')}{shown}")
    return "Invalid setting: " + "; ".join(lines) + ". Fix or unset the variable (see README, Settings)."


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment once; SettingsError names a bad QA_* variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(settings_message(error)) from None
    except PydanticSettingsError as error:  # a value that is not the JSON a list setting needs
        field = re.search(r'field "(\w+)"', str(error))
        name = f"QA_{field.group(1).upper()}" if field else "a QA_* variable"
        raise SettingsError(f"Invalid setting: {name} is not valid JSON (a list looks like [\"a\", \"b\"]). "
                            "Fix or unset the variable (see README, Settings).") from None
