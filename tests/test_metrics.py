"""Classic metrics against pycocoevalcap and sacrebleu called directly, BERTScore with a tiny local model,
RoleF1, and the `evaluate` modules loaded from the checkout."""

from __future__ import annotations

import shutil

import pytest

from movie101v2_hf.evaluation.metrics import bertscore, caption_scores, role_f1, tokenize

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None, reason="pycocoevalcap needs Java (make test installs it)"
)

PREDICTIONS = [
    "A man walks into the room, smiling.",
    "Cheng Yong opens the door of the shop.",
    "She looks at the sea.",
]
REFERENCES = [
    "The man walks into a room and smiles.",
    "Cheng Yong opens the shop door.",
    "She stares at the sea, crying.",
]


def test_classic_metrics_equal_the_reference_implementations():
    import sacrebleu
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge

    ours = caption_scores(PREDICTIONS, REFERENCES, language="en")
    candidates, references = tokenize(PREDICTIONS, language="en"), tokenize(REFERENCES, language="en")
    assert candidates[1] == "cheng yong opens the door of the shop"  # PTB: lower-cased, punctuation removed
    res, gts = {i: [c] for i, c in enumerate(candidates)}, {i: [r] for i, r in enumerate(references)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert [ours[f"BLEU-{n}"] for n in (1, 2, 3, 4)] == pytest.approx([b * 100 for b in bleu], abs=1e-4)
    assert ours["METEOR"] == pytest.approx(Meteor().compute_score(gts, res)[0] * 100, abs=1e-4)
    assert ours["ROUGE-L"] == pytest.approx(Rouge().compute_score(gts, res)[0] * 100, abs=1e-4)
    assert ours["CIDEr"] == pytest.approx(Cider().compute_score(gts, res)[0] * 100, abs=1e-4)
    sacre = sacrebleu.corpus_bleu(candidates, [references], tokenize="none", smooth_method="none")
    assert ours["BLEU-4"] == pytest.approx(sacre.score, abs=1e-3)


def test_chinese_equals_movie101s_reference_tokenization():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge

    predictions = ["程勇打开了门。", "她看着大海", "“走吧！”他说。"]
    references = ["程勇打开店门，走了进去。", "她望着大海哭了", "他说：“我们走吧。”"]
    assert tokenize(predictions, language="zh") == ["程 勇 打 开 了 门 。", "她 看 着 大 海", "“ 走 吧 ！ ” 他 说 。"]
    ours = caption_scores(predictions, references, language="zh")

    # Movie101's evaluation.py: every character joined by a space, straight into pycocoevalcap
    def movie101(text):
        return " ".join(c for c in text)

    gts = {i: [movie101(r)] for i, r in enumerate(references)}
    res = {i: [movie101(c)] for i, c in enumerate(predictions)}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert [ours[f"BLEU-{n}"] for n in (1, 2, 3, 4)] == pytest.approx([b * 100 for b in bleu], abs=1e-4)
    assert ours["CIDEr"] == pytest.approx(Cider().compute_score(gts, res)[0] * 100, abs=1e-4)
    assert ours["METEOR"] == pytest.approx(Meteor().compute_score(gts, res)[0] * 100, abs=1e-4)
    assert ours["ROUGE-L"] == pytest.approx(Rouge().compute_score(gts, res)[0] * 100, abs=1e-4)
    # punctuation counts: dropping it (what this package did before) gives other numbers
    stripped = {i: [" ".join(c for c in t if c not in "。，！“”：")] for i, t in enumerate(predictions)}
    assert Bleu(4).compute_score(gts, stripped, verbose=0)[0][3] * 100 != pytest.approx(ours["BLEU-4"], abs=1e-2)


@pytest.mark.parametrize("language", ["en", "zh"])
def test_an_empty_narration_is_scored_as_empty(language):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    predictions = ["", "A man walks into the room." if language == "en" else "一个男人走进房间。"]
    references = ["The woman sings." if language == "en" else "女人在唱歌。", predictions[1]]
    ours = caption_scores(predictions, references, language=language, meteor=False)
    gts = {i: [r] for i, r in enumerate(tokenize(references, language=language))}
    res = {i: [c] for i, c in enumerate(tokenize(predictions, language=language))}
    assert res[0] == [""]
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    assert ours["BLEU-1"] == pytest.approx(bleu[0] * 100, abs=1e-4)
    assert ours["CIDEr"] == pytest.approx(Cider().compute_score(gts, res)[0] * 100, abs=1e-4)
    placeholder = {**res, 0: ["<empty>"]}  # what it was scored as before: a one-word narration
    assert Bleu(4).compute_score(gts, placeholder, verbose=0)[0][0] * 100 != pytest.approx(ours["BLEU-1"], abs=1e-2)


def test_role_f1_counts():
    casts = [["Cheng Yong", "Lv Shouyi", "Cao Bin"]] * 3
    result = role_f1(
        ["Cheng Yong meets Cao Bin.", "Lv Shouyi waits.", "Nobody is here."],
        [["Cheng Yong", "Lv Shouyi"], ["Lv Shouyi"], []],
        casts,
    )
    # sample 1: P=1/2, R=1/2; sample 2: P=R=1; sample 3: no marked character -> 0 (as Movie101's script)
    assert [round(s["f1"], 4) for s in result["per_sample"]] == [0.5, 1.0, 0.0]
    assert result["RoleF1"] == pytest.approx(50.0) and result["RoleP"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="one per prediction"):
        role_f1(["x"], [["a"]], [])


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(PREDICTIONS + REFERENCES, trainers.WordLevelTrainer(special_tokens=specials))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    path = tmp_path_factory.mktemp("tiny-bert")
    BertModel(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


def test_bertscore_with_a_local_model(tiny_bert):
    from bert_score import BERTScorer

    ours = bertscore(PREDICTIONS, REFERENCES, model_path=tiny_bert)
    p, r, f = BERTScorer(model_type=str(tiny_bert), num_layers=2).score(PREDICTIONS, REFERENCES)
    assert ours["BERTScore-F1"] == pytest.approx(f.mean().item() * 100, abs=1e-3)
    assert ours["BERTScore-P"] == pytest.approx(p.mean().item() * 100, abs=1e-3)


def test_bertscore_without_a_local_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloads models"):
        bertscore(PREDICTIONS, REFERENCES, model_path=tmp_path / "roberta-large")


@pytest.mark.parametrize("name", ["l1_score", "l2_score", "movie_narration"])
def test_evaluate_load_from_the_checkout(name):
    from pathlib import Path

    import evaluate

    from movie101v2_hf.evaluation import metric_module_path
    from movie101v2_hf.testing import ScriptedJudgeServer

    checkout = Path(__file__).resolve().parents[1] / "metrics" / name
    assert Path(metric_module_path(name)).resolve() == checkout  # editable install: the same files
    module = evaluate.load(str(checkout))
    assert set(module.features) == {"predictions", "references"}
    if name == "movie_narration":
        result = module.compute(
            predictions=PREDICTIONS,
            references=REFERENCES,
            metrics=["bleu", "rouge"],
            reference_characters=[["Cheng Yong"]] * 3,
            casts=[["Cheng Yong"]] * 3,
        )
        assert set(result) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L"}
        return
    with ScriptedJudgeServer() as server:
        result = module.compute(predictions=PREDICTIONS, references=REFERENCES, judge_url=server.url)
    expected = {"l1_score": {"L1-Env": 60.0, "L1-Char": 80.0, "L1": 70.0}, "l2_score": {"L2": 60.0}}[name]
    assert {k: result[k] for k in expected} == expected
    assert result["num_invalid"] == 0 and result["prompt_version"] == "movie101v2-hf-prompts-v1-en"
    assert result["judge_model"] == "meta-llama/Llama-3.1-70B-Instruct"


def test_evaluate_module_takes_the_judge_options():
    import socket
    from pathlib import Path

    import evaluate

    from movie101v2_hf.errors import JudgeUnavailableError
    from movie101v2_hf.testing import ScriptedJudgeServer

    module = evaluate.load(str(Path(__file__).resolve().parents[1] / "metrics" / "l2_score"))
    with ScriptedJudgeServer(answer=lambda prompt: "3" if "sea" not in prompt else "unsure") as server:
        result = module.compute(
            predictions=PREDICTIONS,
            references=REFERENCES,
            judge_url=server.url,
            timeout=5,
            retries=0,
            concurrency=2,
            max_invalid=0.0,
        )
    assert result["num_invalid"] == 1 and result["complete"] is False
    assert result["problems"] == ["L2: 1 of 3 judgments invalid (33.3%, over --max-invalid 0.0%)"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    with pytest.raises(JudgeUnavailableError, match=url):
        module.compute(predictions=PREDICTIONS * 4, references=REFERENCES * 4, judge_url=url, retries=0, timeout=1)


def test_chinese_scores_without_meteor_need_no_java(tmp_path):
    # Java runs only the PTB tokenizer (English) and METEOR: a machine without it still scores Chinese BLEU/ROUGE/CIDEr
    import os
    import subprocess
    import sys

    script = (
        "import shutil; assert shutil.which('java') is None\n"
        "from movie101v2_hf.evaluation.metrics import caption_metrics\n"
        "print(caption_metrics(['他走了'], ['他走了'], language='zh', meteor=False).scores['ROUGE-L'])\n"
        "caption_metrics(['a'], ['a'], language='zh', meteor=True)\n"
    )
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty PATH: no java
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "100.0", result.stderr[-2000:]
    assert "need Java on PATH" in result.stderr  # METEOR still asks for it, by name
