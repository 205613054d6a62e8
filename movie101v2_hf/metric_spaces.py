"""`movie101v2 push-metrics`: the `evaluate` modules as Hub Spaces, so that `evaluate.load("ORG/l1_score")` works
as it does for any shared metric.

Each module becomes one Space (`ORG/<module>`): the module file, its metric card (the Space's YAML header, the
card's sections, how to load it from the Space), `requirements.txt` naming this package at the version pushed, and
the `app.py` of evaluate's widget. A push sends only the files whose content differs from the Space's (compared by
git blob hash), so re-running it with nothing changed uploads nothing. The token comes from `hf auth login` or
`HF_TOKEN` through `huggingface_hub`, and is never printed.

Example:
    >>> space_files("l1_score", "my-org")["requirements.txt"].decode().startswith("movie101v2-hf[metrics]==")
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources

from . import __version__
from .evaluation.evaluate import METRIC_MODULES
from .hub import _hub_request

REQUIREMENT = f"movie101v2-hf[metrics]=={__version__}"
_APP = """import evaluate
from evaluate.utils import launch_gradio_widget

launch_gradio_widget(evaluate.load("{repo_id}"))
"""
_HOW_TO_LOAD = """Install the package this module runs on (it holds the judge, the prompts and the scorers), then load the
module from this Space:

```bash
pip install "{requirement}"
```
"""


def space_files(name: str, org: str) -> dict[str, bytes]:
    """The files of the Space `org/name`: path in the Space -> content.

    The module file is the package's own; the card is its card with the loading instructions pointing at the Space.

    Raises:
        ValueError: `name` is not one of `METRIC_MODULES`.
    """
    if name not in METRIC_MODULES:
        raise ValueError(f"Unknown metric module {name!r}; choose from {list(METRIC_MODULES)}.")
    source = resources.files("movie101v2_hf.evaluate_modules").joinpath(name)
    repo_id = f"{org}/{name}"
    card = source.joinpath("README.md").read_text("utf-8")
    card = card.replace(f'evaluate.load("metrics/{name}")', f'evaluate.load("{repo_id}")')
    # the checkout's preface ("From a checkout ... metric_module_path") becomes the Space's install line
    card = re.sub(
        r"(## How to Use\n).*?(```python)",
        lambda m: m.group(1) + _HOW_TO_LOAD.format(requirement=REQUIREMENT) + "\n" + m.group(2),
        card,
        count=1,
        flags=re.DOTALL,
    )
    return {
        f"{name}.py": source.joinpath(f"{name}.py").read_bytes(),
        "README.md": card.encode("utf-8"),
        "requirements.txt": (REQUIREMENT + "\n").encode(),
        "app.py": _APP.format(repo_id=repo_id).encode(),
    }


def push_metrics(
    org: str, *, names: Sequence[str] | None = None, private: bool = False, token: str | bool | None = None
) -> dict[str, list[str]]:
    """Create or update one Space per module (`org/<name>`); returns, per Space, the files uploaded (empty when
    the Space already held exactly these files).

    Raises:
        ValueError: an unknown module name.
        HubRequestError: the Hub answered with an error (the message says what it answered and what to check).

    Example (needs the Hub, so it is not run here; the tests run it against `testing.LocalHub`):
        >>> push_metrics("my-org", names=["l1_score"])  # doctest: +SKIP
        {'my-org/l1_score': ['l1_score.py', 'README.md', 'requirements.txt', 'app.py']}
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.utils.sha import git_hash

    chosen = list(names or METRIC_MODULES)
    files = {name: space_files(name, org) for name in chosen}  # unknown names fail before any request
    api = HfApi(token=token)
    pushed: dict[str, list[str]] = {}
    for name in chosen:
        repo_id = f"{org}/{name}"
        with _hub_request(f"create the Space {repo_id!r}", repo_id):
            api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        with _hub_request(f"read the files of {repo_id!r}", repo_id):
            remote = {f.path: f.blob_id for f in api.get_paths_info(repo_id, list(files[name]), repo_type="space")}
        changed = [path for path, content in files[name].items() if remote.get(path) != git_hash(content)]
        if changed:
            operations = [CommitOperationAdd(path, files[name][path]) for path in changed]
            with _hub_request(f"upload the module {name} to {repo_id!r}", repo_id):
                api.create_commit(
                    repo_id,
                    operations,
                    repo_type="space",
                    commit_message=f"{name} from movie101v2-hf {__version__}",
                )
        pushed[repo_id] = changed
    return pushed
