"""``mole serve``: the OpenAI-compatible server (the library is :mod:`mole_core.serve`)."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from ..cli import cli, device_option, max_loaded_option, registry_option
from ..errors import MoleError


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port to listen on."
)
@click.option(
    "--api-key",
    envvar="MOLE_API_KEY",
    default=None,
    help="Clients must send `Authorization: Bearer KEY` [env MOLE_API_KEY; none: no auth].",
)
@click.option(
    "--engine-url",
    default=None,
    help="Forward to this OpenAI-compatible multi-LoRA engine (e.g. http://HOST:PORT/v1 of vLLM) "
    "instead of loading the base model here.",
)
@click.option(
    "--engine-api-key",
    envvar="MOLE_ENGINE_API_KEY",
    default=None,
    help="Key the engine expects (`vllm serve --api-key`) [env MOLE_ENGINE_API_KEY].",
)
@click.option(
    "--engine-model",
    default="{expert}",
    show_default=True,
    help="The `model` sent to the engine for an expert: {expert} = its name, {base} = the engine's "
    "base model (SGLang: '{base}:{expert}').",
)
@click.option(
    "--engine-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=120.0,
    show_default=True,
    help="Seconds the engine may take to answer, or between two streamed chunks.",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(min=1),
    default=32,
    show_default=True,
    help="Most requests decoded together in one batch.",
)
@click.option(
    "--max-queue",
    type=click.IntRange(min=0),
    default=256,
    show_default=True,
    help="Requests waiting for a row at most; more get HTTP 429.",
)
@click.option(
    "--max-tokens-limit",
    type=click.IntRange(min=1),
    default=2048,
    show_default=True,
    help="The largest max_tokens a request may ask for.",
)
@click.option(
    "--default-max-tokens",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="max_tokens of requests that give none.",
)
@click.option(
    "--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default=None, help="Base model dtype."
)
@max_loaded_option
@device_option
@registry_option
def serve(
    host: str,
    port: int,
    api_key: str | None,
    engine_url: str | None,
    engine_api_key: str | None,
    engine_model: str,
    engine_timeout: float,
    max_batch_size: int,
    max_queue: int,
    max_tokens_limit: int,
    default_max_tokens: int,
    dtype: str | None,
    max_loaded_experts: int | str | None,
    device: str | None,
    registry_dir: Path,
) -> None:
    """Serve the registry over the OpenAI API (chat/completions, completions, models)."""
    from ..serve import ServeSettings, run

    try:
        settings = ServeSettings(
            registry=registry_dir,
            host=host,
            port=port,
            api_key=api_key or None,
            engine_url=engine_url,
            engine_api_key=engine_api_key or None,
            engine_model=engine_model,
            engine_timeout=engine_timeout,
            max_batch_size=max_batch_size,
            max_queue=max_queue,
            max_tokens_limit=max_tokens_limit,
            default_max_tokens=default_max_tokens,
            device=device,
            dtype=dtype,
            max_loaded_experts=max_loaded_experts,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise MoleError(f"{'.'.join(map(str, first['loc'])) or 'settings'}: {first['msg']}") from exc
    auth = "API key required" if settings.api_key else "no API key (set --api-key or MOLE_API_KEY)"
    click.echo(f"serving {registry_dir} on http://{host}:{port}/v1 ({auth})", err=True)
    if settings.engine_url:
        from httpx import URL

        engine = URL(settings.engine_url).copy_with(username=None, password=None)
        click.echo(f"routing here, generating at {engine} (router and tokenizer only)", err=True)
    run(settings)
