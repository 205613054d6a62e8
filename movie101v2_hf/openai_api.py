"""One request to an OpenAI-compatible `/chat/completions` endpoint, with the retries every caller wants.

Shared by the judge (`judge.OpenAIJudge`) and the narrator (`inference.OpenAINarrator`): 429, 5xx, timeouts
and connection errors are retried with exponential backoff (honouring `Retry-After`); other HTTP errors
fail at once, since asking again cannot help. The API key is read from an environment variable and never
printed, logged or written: an error body that echoes it (some servers quote the bad key back) is redacted
before it reaches a message.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

logger = logging.getLogger(__name__)

# Token shapes of the common providers (OpenAI `sk-`, Hugging Face `hf_`, Anthropic `sk-ant-`), masked even when
# they are not the key we sent: an error body may quote any of them.
_TOKEN_SHAPES = re.compile(r"\b(?:sk|hf|rk|pk)[-_][A-Za-z0-9_\-*.]{8,}")


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
    """A thread-safe client of `<base_url>/chat/completions` (one `requests.Session` per thread).

    Args:
        base_url: the server's `/v1` URL (vLLM, SGLang, TGI, `transformers serve`, a hosted API).
        api_key_env: the environment variable holding the key; sent as a Bearer token when set.
        max_retries: retries after the first attempt, for 429, 5xx, timeouts and connection errors.
        timeout: seconds per attempt.
        backoff: the first wait in seconds; doubled after each attempt.

    Example:
        >>> client = ChatClient("http://localhost:8000/v1")
        >>> client.complete({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})  # doctest: +SKIP
        'Hello!'
    """

    base_url: str = "http://localhost:8000/v1"
    api_key_env: str = "OPENAI_API_KEY"
    max_retries: int = 4
    timeout: float = 120.0
    backoff: float = 1.0
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)

    def __repr__(self) -> str:  # never show the key
        return f"ChatClient(base_url={self.base_url!r}, max_retries={self.max_retries})"

    def __getstate__(self) -> dict[str, Any]:  # sessions do not cross process boundaries
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def complete(self, body: dict[str, Any]) -> str:
        """POST `body` and return the first choice's message content.

        Raises:
            ChatRequestError: the server rejected the request (4xx other than 429), replied without a chat
                completion, or kept failing through `max_retries` retries. The message says which.
        """
        return self.chat(body).text

    def chat(self, body: dict[str, Any]) -> ChatReply:
        """As `complete`, with the name of the model the server says answered (its `model` field)."""
        key = os.environ.get(self.api_key_env)
        try:
            return self._post(body, key)
        except ChatRequestError as err:
            raise ChatRequestError(redact(str(err), key), transient=err.transient) from None

    def _post(self, body: dict[str, Any], key: str | None) -> ChatReply:
        import requests

        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = self.base_url.rstrip("/") + "/chat/completions"
        last_problem = "no attempt made"
        for attempt in range(self.max_retries + 1):
            wait = self.backoff * 2**attempt
            try:
                response = self._local.session.post(url, json=body, headers=headers, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as err:
                last_problem = f"{type(err).__name__} from {url}"
                logger.debug("chat request failed (%s), attempt %d", last_problem, attempt + 1)
            else:
                if response.status_code == 200:
                    try:
                        reply = response.json()
                        return ChatReply(reply["choices"][0]["message"]["content"] or "", reply.get("model"))
                    except (ValueError, KeyError, IndexError, TypeError):
                        reply = redact(response.text, key)[:200]  # redact before cutting: no half key survives
                        raise ChatRequestError(f"{url} replied 200 without a chat completion: {reply}") from None
                last_problem = f"HTTP {response.status_code} from {url}: {redact(response.text, key)[:200]}"
                if response.status_code != 429 and response.status_code < 500:
                    raise ChatRequestError(f"request rejected, {last_problem}")
                if retry_after := response.headers.get("Retry-After"):
                    try:
                        wait = max(wait, float(retry_after))
                    except ValueError:
                        pass
            if attempt < self.max_retries:
                time.sleep(wait)
        raise ChatRequestError(f"gave up after {self.max_retries + 1} attempts; last: {last_problem}", transient=True)
