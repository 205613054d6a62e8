"""Chat completions from an OpenAI-compatible server through the `openai` client, shared by the judge and the
`openai` backend.

The `openai` client does the transport: retries of timeouts, connection errors, 408/409/429 and 5xx with
exponential backoff honouring `Retry-After` (`max_retries`), and per-attempt `timeout`s. On top of it, this module
keeps what the package promises: errors that name the URL and say whether retrying can help (`transient`), the API
key read from an environment variable and never printed, logged or written (an error body that quotes it is
redacted before it reaches a message), and request fields the `openai` API does not know (vLLM's
`structured_outputs`) sent through `extra_body`.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import openai

# Token shapes of the common providers (OpenAI `sk-`, Hugging Face `hf_`, Anthropic `sk-ant-`), masked even when
# they are not the key we sent: an error body may quote any of them.
_TOKEN_SHAPES = re.compile(r"\b(?:sk|hf|rk|pk)[-_][A-Za-z0-9_\-*.]{8,}")
# Fields of a request body that `chat.completions.create` takes as arguments; any other goes in `extra_body`.
_CHAT_ARGUMENTS = ("model", "messages", "temperature", "max_tokens", "top_p", "seed", "stop", "n")


class ChatRequestError(RuntimeError):
    """A chat completion failed for good: rejected, or still failing after the last retry.

    `transient` is True when the failures were of the kind that retrying can cure (timeouts, connection errors,
    429, 5xx): a run of these means the server is down or hanging, not that one prompt is bad.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient

    def __reduce__(self):  # keyword-only argument: rebuild it explicitly when pickled
        return _rebuild_request_error, (str(self), self.transient)


def _rebuild_request_error(message: str, transient: bool) -> ChatRequestError:
    return ChatRequestError(message, transient=transient)


class ChatReply(NamedTuple):
    """A chat completion's text and the model the server says answered it."""

    text: str
    model: str | None


def redact(text: str, secret: str | None) -> str:
    """`text` with `secret` and anything shaped like an API token replaced by `***`.

    Example:
        >>> redact("Incorrect API key provided: sk-test-0123456789abcdef", "sk-test-0123456789abcdef")
        'Incorrect API key provided: ***'
        >>> redact("token hf_abcdefghijklmnop rejected", None)
        'token *** rejected'
    """
    if secret:
        text = text.replace(secret, "***")
    return _TOKEN_SHAPES.sub("***", text)


@dataclass
class ChatClient:
    """A thread-safe client of `<base_url>/chat/completions`, one `openai.OpenAI` per process.

    Args:
        base_url: the server's `/v1` URL (vLLM, SGLang, TGI, `transformers serve`, a hosted API).
        api_key_env: the environment variable holding the key (servers that want none get a placeholder).
        max_retries: retries after the first attempt, for 408/409/429, 5xx, timeouts and connection errors.
        timeout: seconds per attempt.

    Example:
        >>> with ScriptedJudgeServer() as server:  # any OpenAI-compatible server; this one answers by rule
        ...     ChatClient(server.url).complete({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})
        '3'
    """

    base_url: str = "http://localhost:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    max_retries: int = 4
    timeout: float = 120.0
    _client: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __repr__(self) -> str:  # never show the key
        return f"ChatClient(base_url={self.base_url!r}, max_retries={self.max_retries})"

    def __getstate__(self) -> dict[str, Any]:  # connections do not cross process boundaries
        return {k: v for k, v in self.__dict__.items() if k not in ("_client", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client, self._lock = None, threading.Lock()

    def _openai(self) -> openai.OpenAI:
        with self._lock:
            if self._client is None:
                self._client = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=os.environ.get(self.api_key_env) or "no-key",
                    max_retries=self.max_retries,
                    timeout=self.timeout,
                )
            return self._client

    def complete(self, body: dict[str, Any]) -> str:
        """Send `body` and return the first choice's message content.

        Raises:
            ChatRequestError: the server rejected the request (4xx other than 408/409/429), replied without a chat
                completion, or kept failing through `max_retries` retries. The message says which, and where.
        """
        return self.chat(body).text

    def chat(self, body: dict[str, Any]) -> ChatReply:
        """As `complete`, with the name of the model the server says answered (its `model` field)."""
        key = os.environ.get(self.api_key_env)
        arguments = {k: v for k, v in body.items() if k in _CHAT_ARGUMENTS}
        extra = {k: v for k, v in body.items() if k not in _CHAT_ARGUMENTS}
        url = self.base_url.rstrip("/") + "/chat/completions"
        attempts = f"after {self.max_retries + 1} attempts"
        try:
            completion = self._openai().chat.completions.create(**arguments, extra_body=extra or None)
            # what comes back is stored (predictions, judgments, answered_by): a reply quoting the key loses it here
            text, model = completion.choices[0].message.content or "", completion.model
            return ChatReply(redact(text, key), redact(model, key) if isinstance(model, str) else None)
        except openai.APIStatusError as err:
            transient = err.status_code in (408, 409, 429) or err.status_code >= 500
            detail = redact(err.response.text, key)[:200]  # redact before cutting: no half key survives
            problem = f"HTTP {err.status_code} from {url}: {detail}"
            message = f"gave up {attempts}; last: {problem}" if transient else f"request rejected, {problem}"
        except (openai.APITimeoutError, openai.APIConnectionError) as err:
            transient, message = True, f"gave up {attempts}; last: {type(err).__name__} from {url}"
        except (openai.OpenAIError, AttributeError, IndexError, TypeError, ValueError) as err:
            transient, message = False, f"{url} replied without a chat completion ({type(err).__name__}: {err})"
        raise ChatRequestError(redact(message, key), transient=transient)
