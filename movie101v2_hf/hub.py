"""Publishing to the Hugging Face Hub.

The token comes from the usual places (`hf auth login`, `HF_TOKEN`) through `huggingface_hub`;
it is never read from a file of ours and never printed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .dataset import MANIFEST

logger = logging.getLogger(__name__)


def push_dataset(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | bool | None = None,
) -> str:
    """Upload a folder written by `movie101v2 prepare` to a Hub dataset repo.

    Afterwards `load_dataset(repo_id, "en")` works as it does on the folder. The Parquet files are
    uploaded as they are: clip rows keep pointing at the movies they were prepared with, so prepare
    with `--video-base hf://datasets/ORG/NAME/videos` (or a URL) for a dataset that others can decode.

    Args:
        folder: the prepared folder (it has `README.md` and `movie101v2_prepare.json`).
        repo_id: `ORG/NAME` of the dataset repo; created if it does not exist.
        private: create the repo as private.
        revision: branch to push to (default: the repo's default branch).
        commit_message: defaults to one naming the package version.
        token: a token, or None to use the logged-in one.

    Returns:
        the URL of the commit.

    Raises:
        FileNotFoundError: `folder` is not a complete prepared folder.

    Example:
        >>> push_dataset("movie101v2-hf", "my-org/movie101v2")  # doctest: +SKIP
        'https://huggingface.co/datasets/my-org/movie101v2/commit/...'
    """
    from huggingface_hub import HfApi

    folder = Path(folder)
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
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    commit = api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        commit_message=commit_message or f"Upload Movie101v2 prepared by movie101v2-hf {manifest['package_version']}",
        ignore_patterns=[".*", "**/.*"],
    )
    return str(getattr(commit, "commit_url", commit))
