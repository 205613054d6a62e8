"""Publishing to the Hugging Face Hub.

The token comes from the usual places (`hf auth login`, `HF_TOKEN`) through `huggingface_hub`;
it is never read from a file of ours and never printed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import __version__
from .backends.base import merge_adapter
from .data.builder import CITATION, LICENSE_LINK
from .data.prepare import MANIFEST
from .errors import HubRequestError, PublishRefusedError
from .evaluation.suite import score_names

logger = logging.getLogger(__name__)


@contextmanager
def _hub_request(what: str, repo_id: str) -> Iterator[None]:
    """Turn the Hub's HTTP errors into `HubRequestError`: what the Hub answered, and what to check."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled as err:
        raise HubRequestError(f"cannot {what}: HF_HUB_OFFLINE is set ({err}). Unset it to upload.") from None
    except HfHubHTTPError as err:
        status = getattr(err.response, "status_code", None)
        answer = err.server_message or str(err).splitlines()[0]
        hints = {
            401: "your token is missing or invalid: run `hf auth login` or set HF_TOKEN",
            403: f"your token needs write access to {repo_id!r} (a namespace you own or an org you can write to)",
            404: f"{repo_id!r} or the revision does not exist, or your token cannot see it",
            409: "the repo or revision is in another state than expected (for example a branch that exists)",
            429: "you are rate-limited: wait and run the same command again (uploads resume)",
        }
        hint = hints.get(status, "the Hub's status page and your connection, then run the same command again")
        raise HubRequestError(
            f"the Hub answered HTTP {status} when asked to {what}: {answer}. Check {hint}."
        ) from None


_PUBLISH_REFUSAL = (
    "Movie101v2's terms (the Movie101 Dataset License Agreement v1.0) forbid public distribution of the dataset "
    "and its derivatives, and a prepared folder is one. Push it to a private repo; if the Movie101 authors "
    "allowed you to publish it, pass --i-have-the-licensors-permission (licensor_permission=True)."
)


def _prepared_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a prepared folder, warning when its clips point at movies only this machine has."""
    manifest_path = folder / MANIFEST
    if not (folder / "README.md").is_file() or not manifest_path.is_file():
        raise FileNotFoundError(
            f"{folder} is not a folder written by `movie101v2 prepare` (no README.md or {MANIFEST}). "
            "Run `movie101v2 prepare --release DIR --out DIR` first and push its --out folder."
        )
    manifest = json.loads(manifest_path.read_text("utf-8"))
    video_source = manifest.get("video_source")
    if video_source and "://" not in video_source:
        logger.warning(
            "The clip rows point at movies on this machine (%s); on the Hub their `video` paths will not resolve for "
            "others. Prepare with --video-base hf://datasets/ORG/NAME/videos or a URL to publish decodable clips.",
            video_source,
        )
    return manifest


def push_dataset(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = True,
    licensor_permission: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | bool | None = None,
) -> str:
    """Upload a folder written by `movie101v2 prepare` to a private Hub dataset repo.

    Afterwards `load_dataset(repo_id, "en")` works as it does on the folder, for whoever may read the repo. The
    Parquet files are uploaded as they are: clip rows keep pointing at the movies they were prepared with, so
    prepare with `--video-base hf://datasets/ORG/NAME/videos` (or a URL) for a dataset that others can decode.

    A prepared folder is a derivative of Movie101v2, whose terms (the Movie101 Dataset License Agreement: see
    `builder.DATA_TERMS`) forbid distributing it or its derivatives publicly. So the repo is private, and a
    public one (a new repo with `private=False`, or an existing public repo) is refused unless
    `licensor_permission` says the user has the licensor's permission to publish it.

    Args:
        folder: the prepared folder (it has `README.md` and `movie101v2_prepare.json`).
        repo_id: `ORG/NAME` of the dataset repo; created (private) if it does not exist.
        private: create the repo as private (default). False needs `licensor_permission`.
        licensor_permission: you have the Movie101 authors' permission to publish this derivative.
        revision: branch to push to (default: the repo's default branch).
        commit_message: defaults to one naming the package version.
        token: a token, or None to use the logged-in one.

    Returns:
        the URL of the commit.

    Raises:
        FileNotFoundError: `folder` is not a complete prepared folder.
        PublishRefusedError: the upload would make the dataset public without `licensor_permission`.
        HubRequestError: the Hub answered with an error (the message says what it answered and what to check).

    Example (needs the Hub, so it is not run here; the tests run it against `testing.LocalHub`):
        >>> push_dataset("movie101v2-hf", "my-org/movie101v2")  # doctest: +SKIP
        'https://huggingface.co/datasets/my-org/movie101v2/commit/...'
    """
    from huggingface_hub import HfApi

    folder = Path(folder)
    manifest = _prepared_manifest(folder)
    if not private and not licensor_permission:
        raise PublishRefusedError(f"refusing to create {repo_id!r} as a public dataset. {_PUBLISH_REFUSAL}")
    api = HfApi(token=token)
    with _hub_request(f"create the dataset repo {repo_id!r}", repo_id):
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if not licensor_permission:
        # create_repo leaves an existing repo as it is: uploading into a public one would publish the data
        with _hub_request(f"read the visibility of {repo_id!r}", repo_id):
            public = not api.repo_info(repo_id, repo_type="dataset").private
        if public:
            raise PublishRefusedError(
                f"{repo_id!r} exists and is public: uploading would publish it. {_PUBLISH_REFUSAL}"
            )
    with _hub_request(f"upload {folder} to {repo_id!r}", repo_id):
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="dataset",
            revision=revision,
            commit_message=commit_message
            or f"Upload Movie101v2 prepared by movie101v2-hf {manifest['package_version']}",
            ignore_patterns=[".*", "**/.*"],
        )
    return str(getattr(commit, "commit_url", commit))


def _dataset_repo_id(dataset: str) -> str | None:
    """The Hub id of `dataset`, or None when it is a local folder."""
    if os.path.exists(dataset) or dataset.count("/") != 1:
        return None
    return dataset


def eval_results_from_file(results_path: str | Path) -> list[Any]:
    """`huggingface_hub.EvalResult`s for a model card, from a `results.json` of `movie101v2 evaluate`.

    Raises:
        ValueError: the file is not a results file, or it says the evaluation is incomplete.

    Example:
        >>> import json
        >>> from movie101v2_hf.evaluation import evaluate_predictions
        >>> lines = [json.dumps({"clip_id": clip_id, "narration": "A man walks in."}) for clip_id in test["clip_id"]]
        >>> _ = (tmp / "preds.jsonl").write_text("\\n".join(lines) + "\\n")
        >>> _ = evaluate_predictions(tmp / "preds.jsonl", mini_dataset, out=tmp / "run", metrics=["rouge"], bootstrap=0)
        >>> [result.metric_name for result in eval_results_from_file(tmp / "run" / "results.json")]
        ['ROUGE-L']
    """
    from huggingface_hub import EvalResult

    results_path = Path(results_path)
    try:
        results = json.loads(results_path.read_text("utf-8"))
        scores, config, split = results["scores"], results["config"], results["split"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{results_path} is not a results.json written by `movie101v2 evaluate` ({err}). Pass that file."
        ) from err
    if results.get("complete") is not True:
        raise ValueError(
            f"{results_path} says the evaluation is incomplete (some judgments failed). Re-run `movie101v2 evaluate` "
            "until it completes before putting its scores on a model card."
        )
    judge = results.get("judge") or {}
    dataset_type = _dataset_repo_id(str(results.get("dataset", ""))) or "movie101v2"
    return [
        EvalResult(
            task_type="video-text-to-text",
            task_name="Movie narration (audio description)",
            dataset_type=dataset_type,
            dataset_name=f"Movie101v2 ({config})",
            dataset_config=config,
            dataset_split=split,
            metric_type=metric.lower(),
            metric_name=metric,
            metric_value=scores[metric],
            metric_config=judge.get("judge_model") if metric.startswith(("L1", "L2")) else None,
        )
        for metric in score_names(where="card")  # each registered metric says which (invalid counts stay out)
        if isinstance(scores.get(metric), (int, float))
    ]


def _reference_scores(results: str | Path | list[Any] | None) -> dict[str, Any]:
    """The reference narrations' own scores (L3) of a `results.json`, for the card."""
    if not isinstance(results, (str, Path)):
        return {}
    return json.loads(Path(results).read_text("utf-8")).get("reference_scores") or {}


def _usage(model_name: str, base_model: str, *, adapter: bool) -> str:
    """The card's loading snippet: the adapter on its base model, or the full model."""
    if adapter:
        return f"""```python
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor

base = AutoModelForImageTextToText.from_pretrained("{base_model}", dtype="auto", device_map="auto")
model = PeftModel.from_pretrained(base, "{model_name}")
processor = AutoProcessor.from_pretrained("{model_name}")
```"""
    return f"""```python
from transformers import AutoModelForImageTextToText, AutoProcessor

model = AutoModelForImageTextToText.from_pretrained("{model_name}", dtype="auto", device_map="auto")
processor = AutoProcessor.from_pretrained("{model_name}")
```"""


def _scores_section(eval_results: list[Any] | None, config: str, ceiling: Mapping[str, Any] | None = None) -> str:
    """The card's evaluation table (with the reference narrations' own L3 beside, the ceiling), or how to get one."""
    if not eval_results:
        return "Not evaluated yet: run `movie101v2 bench` or `movie101v2 evaluate` and push again with `--results`."
    ceiling = ceiling or {}
    score_rows = "\n".join(
        f"| {r.metric_name} | {r.metric_value} | {ceiling.get(r.metric_name, '')} |" for r in eval_results
    )
    return (
        f"On the `{eval_results[0].dataset_split}` split of `{config}` (reference narrations: the references' own "
        f"score where one applies, L3's ceiling):\n\n| metric | score | reference narrations |\n|---|---|---|\n"
        f"{score_rows}"
    )


def narration_model_card(
    *,
    model_name: str,
    base_model: str,
    dataset: str,
    config: str,
    adapter: bool = True,
    hyperparameters: Mapping[str, Any] | None = None,
    recipe: str | None = None,
    results: str | Path | list[Any] | None = None,
) -> Any:
    """A model card for a model fine-tuned on Movie101v2: base model, dataset, recipe, hyperparameters, scores.

    Args:
        model_name: the name in the card and the `model-index`.
        base_model: the Hub id (or path) of the model that was fine-tuned.
        dataset: the training data (a Hub dataset id, or a local folder).
        config: the dataset config (`en`, `zh`, ...).
        adapter: a PEFT adapter (True) or a full / merged model (False).
        hyperparameters: settings to list in a table.
        recipe: the recipe YAML the run used, quoted in full.
        results: a `results.json` of `movie101v2 evaluate`, whose scores become `model-index` results, or
            `huggingface_hub.EvalResult`s (e.g. those of an earlier card).

    Returns:
        a `huggingface_hub.ModelCard`; `.save(path)` writes it, `ModelCard.load` reads it back.

    Example:
        >>> card = narration_model_card(model_name="qwen2.5-vl-7b-movie101v2-en", base_model="Qwen/Qwen2.5-VL-7B-Instruct",
        ...                             dataset="my-org/movie101v2", config="en")
        >>> card.data.base_model
        'Qwen/Qwen2.5-VL-7B-Instruct'
    """
    from huggingface_hub import ModelCard

    eval_results = eval_results_from_file(results) if isinstance(results, (str, Path)) else (results or None)
    data = _model_card_data(model_name, base_model, dataset, config, adapter=adapter, eval_results=eval_results)
    rows = "\n".join(f"| `{key}` | `{value}` |" for key, value in (hyperparameters or {}).items())
    sections = {
        "usage": _usage(model_name, base_model, adapter=adapter),
        "scores": _scores_section(eval_results, config, _reference_scores(results)),
        "training": rows + (f"\n\nThe recipe:\n\n```yaml\n{recipe.strip()}\n```" if recipe else ""),
    }
    return ModelCard(_model_card_text(data.to_yaml(), model_name, base_model, config, adapter=adapter, **sections))


def _model_card_data(
    model_name: str, base_model: str, dataset: str, config: str, *, adapter: bool, eval_results: list[Any] | None
) -> Any:
    """The card's metadata (YAML header): base model, dataset, languages, library, tags, the `model-index`."""
    from huggingface_hub import ModelCardData

    dataset_id = _dataset_repo_id(dataset)
    return ModelCardData(
        model_name=model_name,
        base_model=base_model,
        datasets=[dataset_id] if dataset_id else None,
        language=[config[:2]] if config[:2] in ("en", "zh") else ["en", "zh"],
        library_name="peft" if adapter else "transformers",
        pipeline_tag="video-text-to-text",
        tags=["movie101v2", "audio-description", "video-captioning", "trl", "sft"] + (["lora"] if adapter else []),
        eval_results=eval_results,
    )


def _model_card_text(
    header: str,
    model_name: str,
    base_model: str,
    config: str,
    *,
    adapter: bool,
    usage: str,
    scores: str,
    training: str,
) -> str:
    """The card's text: what the model is, its use, training, evaluation, the data's terms, the citation."""
    content = f"""---
{header}
---

# {model_name}

{"A LoRA adapter (with the visual projector) for" if adapter else "A fine-tune of"} [{base_model}](https://huggingface.co/{base_model}),
trained to narrate movie clips for blind and low-vision audiences (audio description) on
[Movie101v2](https://arxiv.org/abs/2404.13370), config `{config}`, with
movie101v2-hf {__version__}.

## Use

The prompt (frames, cast portraits with names, instruction) is built by `movie101v2_hf.prompting.NarrationCollator`
with the settings in `movie101v2_prompt.json`; `movie101v2 narrate --model {base_model} --adapter {model_name}`
narrates a split with them.

{usage}

## Training

Frames sampled from the full-length movies, up to five main-cast portraits with their names in the prompt,
vision encoder frozen, visual projector and LoRA adapters on the language model trained (as in the paper).

| setting | value |
|---|---|
{training}

## Evaluation

{scores}

## Training data and its terms

Trained on Movie101v2, whose annotations and movies are for non-commercial academic research only under the
Movie101 Dataset License Agreement v1.0 (see the [dataset's terms]({LICENSE_LINK}) and the
[Movie101 repository](https://github.com/yuezih/Movie101)). These weights are not the dataset, but check that
your use of a model trained on it fits those terms.

## Citation

```bibtex
{CITATION}
```
"""
    return content


def _model_card_for(folder: Path, repo_id: str, base_model: str, *, merge: bool, results: str | Path | None) -> Any:
    """The card to upload: the folder's own, unless scores are given or the model is merged (then one is made
    from the training settings, with the scores given or those of the folder's card)."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(folder / "README.md") if (folder / "README.md").is_file() else None
    if card is not None and results is None and not merge:
        return card
    settings_file = folder / "training_settings.json"
    settings = json.loads(settings_file.read_text("utf-8")) if settings_file.is_file() else {}
    return narration_model_card(
        model_name=repo_id,
        base_model=base_model,
        dataset=settings.get("dataset", "movie101v2"),
        config=settings.get("config", "en"),
        adapter=not merge,
        hyperparameters=settings.get("hyperparameters"),
        recipe=settings.get("recipe"),
        results=results if results is not None or card is None else card.data.eval_results,
    )


def push_model(
    folder: str | Path,
    repo_id: str,
    *,
    merge: bool = False,
    base_model: str | None = None,
    results: str | Path | None = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | bool | None = None,
) -> str:
    """Upload a trained adapter (the `output_dir` of `recipes/sft_lora.py`), or the model merged with it.

    The card in the folder is kept; with `results`, its `model-index` is replaced by those scores. A merged
    model gets a card of its own, with the adapter card's scores.

    Args:
        folder: the training output folder (`adapter_config.json`, processor files, `README.md`).
        repo_id: `ORG/NAME` of the model repo; created if it does not exist.
        merge: merge the adapter into the base model and upload the full model instead.
        base_model: the base model to merge into (default: the one named in `adapter_config.json`).
        results: a `results.json` of `movie101v2 evaluate` to put on the card.
        private, revision, commit_message, token: as in `huggingface_hub.HfApi.upload_folder`; a token of None
            uses the logged-in one.

    Returns:
        the URL of the commit.

    Raises:
        FileNotFoundError: `folder` holds no adapter.

    Example (needs the Hub, so it is not run here; the tests run it against `testing.LocalHub`):
        >>> push_model("runs/qwen2.5-vl-7b-en", "my-org/qwen2.5-vl-7b-movie101v2-en")  # doctest: +SKIP
        'https://huggingface.co/my-org/qwen2.5-vl-7b-movie101v2-en/commit/...'
    """
    from huggingface_hub import HfApi

    folder = Path(folder)
    adapter_config = folder / "adapter_config.json"
    if not adapter_config.is_file():
        raise FileNotFoundError(
            f"{folder} has no adapter_config.json: it is not the output_dir of recipes/sft_lora.py (or training has "
            "not saved yet). Point push-model at the folder the recipe wrote."
        )
    base_model = base_model or json.loads(adapter_config.read_text("utf-8"))["base_model_name_or_path"]
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="movie101v2-push-") as staging:
        upload = folder
        if merge:
            upload = Path(staging) / "merged"  # beside card/, never holding it
            merge_adapter(folder, base_model, upload)
        card = _model_card_for(folder, repo_id, base_model, merge=merge, results=results)
        card_dir = Path(staging) / "card"
        card_dir.mkdir()
        card.save(card_dir / "README.md")
        with _hub_request(f"upload {folder} to the model repo {repo_id!r}", repo_id):
            api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
            commit = api.upload_folder(
                folder_path=str(upload),
                repo_id=repo_id,
                repo_type="model",
                revision=revision,
                commit_message=commit_message
                or f"Upload {'merged model' if merge else 'adapter'} (movie101v2-hf {__version__})",
                # checkpoints and the card of the folder stay behind: the card is uploaded next, updated
                ignore_patterns=["checkpoint-*", "checkpoint-*/**", "seen_clips/**", "runs/**", "README.md", ".*"],
            )
            api.upload_file(
                path_or_fileobj=str(card_dir / "README.md"),
                path_in_repo="README.md",
                repo_id=repo_id,
                repo_type="model",
                revision=revision,
                commit_message="Update the model card",
            )
    return str(getattr(commit, "commit_url", commit))
