"""`llm.cache`: the response cache is keyed by the whole request, takes keywords only, and upgrades older files."""

from __future__ import annotations

import sqlite3

import pytest

from movie101v2_hf.llm import AnswerFormat, Request, ResponseCache


def test_the_key_is_the_whole_request():
    base = Request("judge", "Score it.", AnswerFormat.of_regex("l2", "[0-5]"), {"max_tokens": 16})
    others = [
        Request("judge-2", base.prompt, base.answer_format, base.settings),
        Request("judge", "Score it!", base.answer_format, base.settings),
        Request("judge", base.prompt, AnswerFormat.of_regex("l2", "[0-9]"), base.settings),
        Request("judge", base.prompt, base.answer_format, {"max_tokens": 8}),
    ]
    assert len({base.key(), *(other.key() for other in others)}) == 5
    # what it is for is recorded, not hashed: the prompt already says what is asked
    assert Request("judge", "Score it.", base.answer_format, base.settings, purpose="l2").key() == base.key()


def test_valid_and_invalid_answers_are_stored_apart(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    good, bad = Request("m", "one"), Request("m", "two")
    cache.put(request=good, answer="4", value={"plot": 4}, valid=True, backend="openai", endpoint="http://x/v1")
    cache.put(request=bad, answer="no idea", value=None, valid=False)
    again = ResponseCache(tmp_path / "c.sqlite")  # another process opening the same file
    assert again.get(request=good).value == {"plot": 4} and again.get(request=good).endpoint == "http://x/v1"
    assert again.get(request=bad).valid is False and again.get(request=bad).answer == "no idea"
    assert again.get(request=Request("m", "three")) is None and len(again) == 2


def test_the_cache_takes_keywords_only():
    # positional arguments let a swapped answer and value pass silently
    cache = ResponseCache(":memory:")
    with pytest.raises(TypeError):
        cache.put(Request("m", "p"), "4", 4, True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        cache.get(Request("m", "p"))  # type: ignore[misc]


def test_a_cache_of_an_older_version_gains_the_new_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT, answer TEXT, value TEXT, valid INTEGER)")
    request = Request("m", "p")
    db.execute("INSERT INTO responses VALUES (?, 'm', '4', '4', 1)", (request.key(),))
    db.commit()
    db.close()
    cache = ResponseCache(path)
    assert cache.get(request=request).value == 4 and cache.get(request=request).answered_by is None
    cache.put(request=Request("m", "q"), answer="5", value=5, valid=True, answered_by="m-0905")
    assert cache.get(request=Request("m", "q")).answered_by == "m-0905"
