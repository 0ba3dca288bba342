"""Prompt texts live in assets/prompts/<task>.yaml as editable data; this module finds and loads them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

def _assets_dir() -> Path:
    """assets/ of the source checkout this package sits in; in an installed wheel, the copy inside the package."""
    checkout = Path(__file__).resolve().parent.parent / "assets"
    return checkout if checkout.is_dir() else Path(__file__).resolve().parent / "assets"


ASSETS_DIR = _assets_dir()
REQUIRED_KEYS = ("attempt", "reflection", "retry")
# The control's retry request (evaluation.bare_retry): shipped prompt files state it; others get this text.
DEFAULT_BARE_RETRY = "That is not correct. Try again."


def asset_path(path: str | Path) -> Path:
    """A path a spec names (assets/prompts/..., assets/models/...): as given when absolute or present from here, else
    relative to the repository root, which in an installed wheel is the package holding assets/."""
    file = Path(path)
    return file if file.is_absolute() or file.exists() else ASSETS_DIR.parent / file


@lru_cache(maxsize=None)
def load_prompts(task_name: str, path: str | None = None) -> dict[str, str]:
    """Prompt templates for a task: keys `attempt`, `reflection`, `retry`, and `bare_retry` (the control's retry
    request, DEFAULT_BARE_RETRY when the file has none); more are allowed."""
    file = asset_path(path) if path else ASSETS_DIR / "prompts" / f"{task_name}.yaml"
    data = yaml.safe_load(file.read_text())
    missing = [k for k in REQUIRED_KEYS if not isinstance(data, dict) or not isinstance(data.get(k), str)]
    if missing:
        raise ValueError(f"prompt file {file} lacks text for: {', '.join(missing)}")
    return {"bare_retry": DEFAULT_BARE_RETRY, **data}


class PromptTexts:
    """The Task protocol's prompt methods, read from the task's prompt file (`self.prompts`, from `load_prompts`)."""

    prompts: dict[str, str]

    def reflection_prompt(self) -> str:
        return self.prompts["reflection"]

    def retry_prompt(self) -> str:
        return self.prompts["retry"]

    def bare_retry_prompt(self) -> str:
        return self.prompts["bare_retry"]

    def practice_prompt(self, behaviour: str) -> str:
        return practice_prompt(self.prompts, behaviour)


def practice_prompt(prompts: dict[str, str], behaviour: str) -> str:
    """The reflection request that asks for `behaviour` by name (key `practice_<behaviour>`), used by the warm
    start's practice conversations."""
    text = prompts.get(f"practice_{behaviour}")
    if not isinstance(text, str):
        raise ValueError(f"the prompt file has no practice_{behaviour} text, so the warm start cannot practise "
                         f"'{behaviour}'")
    return text
