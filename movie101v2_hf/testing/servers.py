"""`ScriptedJudgeServer`: a real OpenAI-compatible HTTP server on loopback that answers by rule, with faults on demand."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) answering with `_handler()`, used as a context manager.

    Subclasses build their request handler in `_handler` and set their own state before calling `__init__`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def origin(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Any:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def rule_based_answer(prompt: str) -> str:
    """A valid answer for `prompt`: `3,4` for L1 prompts (they name the Environment aspect), a plan of as many
    scenes as asked for the synthetic planner's, `A` for ShotBench's matcher, `3` otherwise (L2)."""
    if "Environment" in prompt or "环境" in prompt:
        return "3,4"
    if planned := re.search(r"scenes: exactly (\d+)", prompt):
        return json.dumps(scripted_plan(int(planned.group(1))))
    if "Reply with the letter of the option" in prompt:
        return "A"
    return "3"


def scripted_plan(scenes: int, theme: str = "a lighthouse keeper and a stray dog") -> dict[str, Any]:
    """A synthetic movie plan of `scenes` scenes about `theme` that the planner accepts (two characters, every QA
    kind)."""
    return {
        "title": theme.title(),
        "overview": f"A movie about {theme}.",
        "style": ["warm film grain", "35mm", "soft window light"],
        "characters": [
            {"name": "Lin", "description": "a woman of forty, short grey hair, blue raincoat"},
            {"name": "Bo", "description": "a boy of ten, striped sweater"},
        ],
        "scenes": [
            {
                "keyframe": f"scene {k} of {theme}",
                "narration": f"Lin and Bo stand together, scene {k}.",
                "characters": ["Lin", "Bo"],
            }
            for k in range(scenes)
        ],
        "qa": [
            {"kind": kind, "question": f"A {kind} question?", "answer": "An answer."}
            for kind in ("overview", "plot", "temporal", "character")
        ],
    }


class ScriptedJudgeServer(LoopbackServer):
    """An OpenAI-compatible `/v1/chat/completions` server on 127.0.0.1 that answers by rule (judge or narrator).

    Args:
        answer: maps the user message to the reply text (default: `rule_based_answer`).
        latency: seconds each request takes before it is answered, or a function of the request's number (0 for
            the first) giving them, e.g. answers spread out in time.
        faults: what the next requests get, in order, before normal service: `"429"`, `"500"`, `"400"`,
            `"401-echo"` (a 401 whose body quotes the bearer token back, as some servers do), `"slow"` (answers
            after `slow_seconds`), `"garbage"` (a reply no parser accepts), `"ok"`.
        slow_seconds: how long a `"slow"` reply takes.
        served_model: the `model` named in replies (default: the model asked for), as a server that serves an
            alias under another name reports it.

    `replies_sent` counts the chat completions written back in full.

    Example:
        >>> with ScriptedJudgeServer(faults=["429"]) as server:
        ...     OpenAILLM(model="judge", base_url=server.url).generate(["..."]), server.replies_sent
        (['3'], 1)
    """

    def __init__(
        self,
        *,
        answer: Callable[[str], str] = rule_based_answer,
        latency: float | Callable[[int], float] = 0.0,
        faults: Iterable[str] = (),
        slow_seconds: float = 5.0,
        served_model: str | None = None,
    ) -> None:
        self.answer = answer
        self.served_model = served_model
        self.replies_sent = 0
        self.latency = latency
        self.slow_seconds = slow_seconds
        self.faults: deque[str] = deque(faults)
        self.requests: list[dict[str, Any]] = []  # every request body, in arrival order
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at once
        super().__init__()

    @property
    def url(self) -> str:
        """The base URL to give an OpenAI client (`.../v1`)."""
        return f"{self.origin}/v1"

    def _next_fault(self) -> str:
        with self._lock:
            return self.faults.popleft() if self.faults else "ok"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (a timeout test)
                    pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server._lock:
                    number = len(server.requests)
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                if not self.path.endswith("/chat/completions"):
                    return self._reply(404, {"error": {"message": f"unknown path {self.path}"}})
                fault = server._next_fault()
                latency = server.latency(number) if callable(server.latency) else server.latency
                if latency:
                    time.sleep(latency)  # the simulated model's time per request
                if fault == "429":
                    return self._reply(429, {"error": {"message": "rate limited"}})
                if fault == "500":
                    return self._reply(500, {"error": {"message": "internal error"}})
                if fault == "400":
                    return self._reply(400, {"error": {"message": "bad request"}})
                if fault == "401-echo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    return self._reply(401, {"error": {"message": f"Incorrect API key provided: {token}"}})
                if fault == "slow":
                    time.sleep(server.slow_seconds)
                content = body["messages"][-1]["content"]
                if isinstance(content, list):  # OpenAI's content parts
                    content = " ".join(part.get("text", "") for part in content)
                text = "I cannot judge this." if fault == "garbage" else server.answer(content)
                self._reply(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "model": server.served_model or body.get("model"),
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                    },
                )
                with server._lock:
                    server.replies_sent += 1

        return Handler
