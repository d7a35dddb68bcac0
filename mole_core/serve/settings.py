"""Settings of ``mole serve`` (pydantic): where the registry is, the address, limits, the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class ServeSettings(BaseModel):
    """Everything the server needs to start; the CLI fills it from options and environment variables."""

    model_config = ConfigDict(extra="forbid")

    registry: Path = Field(default=Path("."), description="Registry directory (holds mole.toml).")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_key: SecretStr | None = Field(
        default=None, description="Clients must send `Authorization: Bearer KEY` (none: no auth)."
    )
    engine_url: str | None = Field(
        default=None,
        description="An OpenAI-compatible multi-LoRA engine (e.g. vLLM) to forward to, instead of the "
        "embedded engine; the server then loads only the router and the tokenizer.",
    )
    engine_api_key: SecretStr | None = Field(
        default=None, description="Sent to the engine as `Authorization: Bearer KEY` (never logged)."
    )
    engine_model: str = Field(
        default="{expert}",
        description="The `model` an expert's requests carry to the engine: {expert} is its name, {base} "
        "the engine's base model (vLLM: '{expert}'; SGLang: '{base}:{expert}').",
    )
    engine_timeout: float = Field(
        default=120.0,
        gt=0,
        description="Seconds the engine may take to connect, or between two streamed chunks.",
    )
    device: str | None = Field(default=None, description="Embedded engine: auto, cpu, cuda, cuda:N or mps.")
    dtype: str | None = Field(default=None, description="Embedded engine: the base model's dtype override.")
    max_batch_size: int = Field(default=32, ge=1, le=1024, description="Rows decoded together at most.")
    max_loaded_experts: int | Literal["all"] | None = Field(
        default=None,
        description="Embedded engine: adapters attached at once (others load on first use, least recently "
        "used evicted; 'all': no bound; None: $MOLE_MAX_LOADED_EXPERTS, else 32). Requests wait while "
        "the running batch already uses that many distinct experts.",
    )
    max_queue: int = Field(
        default=256, ge=0, description="Requests waiting for a row at most; one more is refused with 429."
    )
    default_max_tokens: int = Field(default=256, ge=1, description="max_tokens when a request gives none.")
    max_tokens_limit: int = Field(default=2048, ge=1, description="The largest max_tokens a request may ask.")
    max_prefill_tokens: int = Field(
        default=4096,
        ge=1,
        description="Prompt tokens prefilled in one step boundary at most (beyond: the next boundary), "
        "so a burst of long prompts cannot stall running rows for long.",
    )
    max_request_bytes: int = Field(default=1_000_000, ge=1024, description="Request body size limit (413).")
    top_k_limit: int = Field(default=4, ge=1, description="The largest mole_top_k a request may blend.")

    @field_validator("engine_url")
    @classmethod
    def _engine_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:8001/v1)")
        return url.rstrip("/") if url else url

    @field_validator("engine_model")
    @classmethod
    def _engine_model(cls, value: str) -> str:
        if "{expert}" not in value:
            raise ValueError("must contain {expert} (where the expert's name goes)")
        return value

    @model_validator(mode="after")
    def _limits(self) -> ServeSettings:
        if self.default_max_tokens > self.max_tokens_limit:
            raise ValueError("default_max_tokens is larger than max_tokens_limit")
        return self

    def key(self) -> str | None:
        """The API key's value (None: no auth); read only where it is compared."""
        return self.api_key.get_secret_value() if self.api_key is not None else None
