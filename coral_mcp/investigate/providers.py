"""The LLM seam: one `Provider` protocol, a factory, and the errors every provider raises.

Each provider turns the loop's neutral conversation (see `conversation.py`) into its
own wire format and back. SDKs are imported only when their provider is chosen, so
`coral-mcp serve`, the agent and the builtin provider never load them. Providers do not
retry: the loop decides (429 and 5xx are retryable; 401 and bad requests are not).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from coral_mcp.errors import ConfigError, CoralError
from coral_mcp.investigate.conversation import Entry, ToolSpec, Turn

TextSink = Callable[[str], None]

#: Output tokens one model call may produce.
MAX_OUTPUT_TOKENS = 2048


class ProviderError(CoralError):
    """A model call that failed; `retryable` for rate limits, server errors, lost
    connections. The message never contains a key."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class Provider(Protocol):
    name: str
    model: str

    async def complete(
        self,
        system: str,
        history: Sequence[Entry],
        tools: Sequence[ToolSpec],
        on_text: TextSink,
    ) -> Turn:
        """One model call: the next assistant turn, its text streamed to `on_text`."""
        ...

    async def close(self) -> None: ...


def status_error(provider: str, status: int, detail: str, retry_after: str | None) -> ProviderError:
    """The ProviderError for an HTTP error status from `provider`."""
    after: float | None = None
    if retry_after:
        try:
            after = max(0.0, float(retry_after))
        except ValueError:
            after = None
    text = f"{provider} answered HTTP {status}: {detail[:200]}"
    if status in (401, 403):
        return ProviderError(
            text, status=status, hint="check the API key (environment variable or config)"
        )
    retryable = status in (408, 409, 429) or status >= 500
    return ProviderError(text, status=status, retryable=retryable, retry_after_s=after)


def error_detail(body: object) -> str:
    """The message of an API error body (headers, where keys travel, are never read)."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message", err))
        return str(err)
    return str(body)


def sdk_error(provider: str, base_url: object, exc: Exception, sdk: Any) -> ProviderError:
    """An SDK's exception as a ProviderError. The anthropic and openai SDKs share their
    exception names (APIStatusError, APITimeoutError, APIConnectionError)."""
    if isinstance(exc, sdk.APIStatusError):
        retry_after = exc.response.headers.get("retry-after")
        return status_error(provider, exc.status_code, error_detail(exc.body), retry_after)
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError(f"{provider}: the request timed out", retryable=True)
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderError(
            f"cannot reach {provider} at {base_url} ({type(exc).__name__})",
            retryable=True,
            hint="is the server at --base-url running?",
        )
    return ProviderError(f"{provider}: {exc}")


def missing_sdk(package: str) -> ConfigError:
    return ConfigError(
        f"the {package} package is not installed",
        hint="pip install 'coral-mcp[llm]'",
    )


def sdk_client(sdk: Any, client_class: str, settings: Any) -> Any:
    """The SDK's async client for `settings` (AskSettings): our own retries and timeouts
    govern the loop, so the SDK's are off. ConfigError when the SDK is not installed."""
    if sdk is None:
        raise missing_sdk(client_class.removeprefix("Async").lower())
    return getattr(sdk, client_class)(
        api_key=settings.api_key,
        base_url=settings.base_url,
        max_retries=0,
        timeout=settings.limits.call_timeout_s,
    )
