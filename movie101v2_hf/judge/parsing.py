"""Reading a judge's answer: `E,C` (two integers 0-5) for L1, one integer 0-5 for L2.

A judge answers "E,C" or "S" when it follows the prompt, and a dozen other forms when it does not. The rules:
a score written over 5 ("2/5", "2 out of 5") is its numerator; labelled scores ("Environment: 2", "E=2",
"环境：2") are read by label; otherwise the answer must open with the score(s). A negative number, a decimal,
a score over another denominator, a third number in the opening list or a value outside 0-5 makes the answer
invalid: it is re-asked, then counted invalid, never read as another number.
"""

from __future__ import annotations

import re

# What structured output allows the judge to write: the official answer formats.
ANSWER_REGEX = {"l1": r"[0-5],[0-5]", "l2": r"[0-5]", "choice": r"[A-DZ]"}  # choice: the ShotBench matcher

_OVER_FIVE = re.compile(r"(?<![\d.])(\d+)\s*(?:/|out\s+of|of)\s*5(?![\d.])", re.IGNORECASE)
_OTHER_DENOMINATOR = re.compile(r"\d\s*(?:/|out\s+of)\s*\d")
_NEGATIVE = re.compile(r"(?<![\w.])[-−]\s*\d")
_DECIMAL = re.compile(r"\d\.\d")
_NUMBER = r"\s*(?:[:=：]|is|为|是)?\s*\**\s*(\d+)"
_L1_ENV = re.compile(rf"(?<![A-Za-z])(?:environment|env|e)(?![A-Za-z]){_NUMBER}|环境{_NUMBER}", re.IGNORECASE)
_L1_CHAR = re.compile(
    rf"(?<![A-Za-z])(?:characters?|chars?|c)(?![A-Za-z]){_NUMBER}|(?:人物|角色){_NUMBER}", re.IGNORECASE
)
_L2_LABEL = re.compile(
    rf"(?<![A-Za-z])(?:score|plot|l2)(?![A-Za-z]){_NUMBER}|(?:分数|评分|得分|剧情){_NUMBER}", re.IGNORECASE
)
_SEP = r"\s*[,，、;；]\s*|\s+"
_OPENING_NUMBERS = re.compile(rf"^[^\w-]*?(\d+(?:(?:{_SEP})\d+)*)(?!\w)")


def _normalise(answer: str) -> str | None:
    """The answer with scores over 5 reduced to their numerator; None when it holds a form that cannot be read
    safely (negative, decimal, another denominator)."""
    text = _OVER_FIVE.sub(r"\1", answer.strip())
    if _NEGATIVE.search(text) or _OTHER_DENOMINATOR.search(text):
        return None
    if _DECIMAL.search(text):  # "3.5" is not an integer score ("4,2" is two scores: a comma never counts)
        return None
    return text


def _labelled(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    return None if match is None else int(next(g for g in match.groups() if g is not None))


def _opening_numbers(text: str) -> list[int]:
    match = _OPENING_NUMBERS.match(text)
    return [] if match is None else [int(n) for n in re.split(_SEP, match.group(1))]


def parse_l1(answer: str) -> tuple[int, int] | None:
    """(Environment, Characters) from a judge's answer, or None when it cannot be read safely or is out of 0-5.

    Example:
        >>> parse_l1("3，5"), parse_l1("Environment: 3, Characters: 5"), parse_l1("4,2. The candidate misses ...")
        ((3, 5), (3, 5), (4, 2))
        >>> parse_l1("2/5, 4/5"), parse_l1("E=2 C=4")
        ((2, 4), (2, 4))
        >>> parse_l1("7,2"), parse_l1("good"), parse_l1("-1"), parse_l1("3.5, 4"), parse_l1("3,4,5")
        (None, None, None, None, None)
    """
    text = _normalise(answer)
    if text is None:
        return None
    env, char = _labelled(_L1_ENV, text), _labelled(_L1_CHAR, text)
    if env is not None and char is not None:
        scores = (env, char)
    else:
        numbers = _opening_numbers(text)
        if len(numbers) != 2:
            return None
        scores = (numbers[0], numbers[1])
    return scores if all(0 <= s <= 5 for s in scores) else None


def parse_l2(answer: str) -> int | None:
    """The plot score from a judge's answer, or None when it cannot be read safely or is out of 0-5.

    Example:
        >>> parse_l2("4"), parse_l2("Score: 3 - the main event is there"), parse_l2("2. Misses the point")
        (4, 3, 2)
        >>> parse_l2("2 out of 5"), parse_l2("4/5")
        (2, 4)
        >>> parse_l2("8"), parse_l2("3,4"), parse_l2("-1"), parse_l2("3.5"), parse_l2("7/10")
        (None, None, None, None, None)
    """
    text = _normalise(answer)
    if text is None:
        return None
    score = _labelled(_L2_LABEL, text)
    if score is None:
        numbers = _opening_numbers(text)
        if len(numbers) != 1:
            return None
        score = numbers[0]
    return score if 0 <= score <= 5 else None


def parse_answer(metric: str, answer: str | None) -> dict[str, int] | None:
    """Parsed scores as a dict (`{"env", "char"}` or `{"plot"}`), None for a missing or bad answer."""
    if answer is None:
        return None
    if metric == "l1":
        l1 = parse_l1(answer)
        return None if l1 is None else {"env": l1[0], "char": l1[1]}
    l2 = parse_l2(answer)
    return None if l2 is None else {"plot": l2}
