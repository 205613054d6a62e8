"""The doctest namespace: names the package's examples use without importing them (a scripted judge server,
the text-LLM layer, a folder to write in), so that each example is short and still runs."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _doctest_names(request: pytest.FixtureRequest) -> None:
    from _pytest.doctest import DoctestItem

    if not isinstance(request.node, DoctestItem):
        return
    namespace = request.getfixturevalue("doctest_namespace")
    tmp = request.getfixturevalue("tmp_path")
    from movie101v2_hf.llm import OpenAILLM, ResponseCache, make_llm
    from movie101v2_hf.testing import ScriptedJudgeServer

    themes = tmp / "themes.txt"
    themes.write_text("a lighthouse keeper and a stray dog\n", encoding="utf-8")
    namespace.update(
        ScriptedJudgeServer=ScriptedJudgeServer,
        OpenAILLM=OpenAILLM,
        ResponseCache=ResponseCache,
        make_llm=make_llm,
        tmp=tmp,
        themes_file=str(themes),
    )
