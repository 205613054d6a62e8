"""What shape an answer must have: a regex, a JSON schema, or free text (`None`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AnswerFormat:
    """The format a text LLM is asked to answer in, enforced where the engine offers structured output.

    `name` identifies the format in requests (OpenAI's `json_schema.name`) and logs; `regex` (vLLM and SGLang
    servers, offline vLLM) or `json_schema` (OpenAI-compatible `response_format`, vLLM) constrain the answer.
    Backends without structured output ignore both: the caller parses every answer anyway.

    Example:
        >>> AnswerFormat.of_regex("l2", "[0-5]").describe()
        {'name': 'l2', 'regex': '[0-5]', 'json_schema': None}
    """

    name: str
    regex: str | None = None
    json_schema: dict[str, Any] | None = None

    @classmethod
    def of_regex(cls, name: str, pattern: str) -> AnswerFormat:
        return cls(name, regex=pattern)

    @classmethod
    def of_schema(cls, name: str, schema: dict[str, Any]) -> AnswerFormat:
        return cls(name, json_schema=schema)

    def response_format(self) -> dict[str, Any] | None:
        """OpenAI's `response_format` for the JSON schema (None without one).

        Example:
            >>> AnswerFormat.of_schema("x", {"type": "object"}).response_format()["type"]
            'json_schema'
        """
        if self.json_schema is None:
            return None
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.json_schema}}

    def describe(self) -> dict[str, Any]:
        """What the cache key records of the format (JSON-serialisable)."""
        return {"name": self.name, "regex": self.regex, "json_schema": self.json_schema}
