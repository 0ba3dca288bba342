"""BFCL's question and possible_answer files read from the installed bfcl-eval wheel, by category.

The wheel (Apache-2.0, 2 MB; `make install` puts it in the venvs with --no-deps) ships BFCL's data folder; only
those files are read, never its code, whose dependencies this project does not install. A function-calling
`source` of `bfcl:simple_python,multiple,irrelevance` names the categories; bfcl_data reads their rows.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from r3_pipeline.tasks.function_calling.bfcl_data import IRRELEVANCE, Answers
from r3_pipeline.tasks.function_calling.config import BFCL_SOURCE
from r3_pipeline.tasks.function_calling.data import load_xlam

PACKAGE_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance", "live_simple",
                      "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance")


def load_bfcl_package(source: str) -> tuple[list[dict], Answers]:
    """The question rows and the answers of the categories a `bfcl:cat1,cat2` source names, in that order, read
    from the data folder of the installed bfcl-eval package. Raises ValueError for an unknown or repeated
    category and FileNotFoundError when the package or one of its files is missing."""
    categories = [name.strip() for name in source.removeprefix(BFCL_SOURCE).split(",")]
    unknown = [name for name in categories if name not in PACKAGE_CATEGORIES]
    if unknown or not categories or len(set(categories)) != len(categories):
        raise ValueError(f"source {source!r}: name BFCL categories once each, from {', '.join(PACKAGE_CATEGORIES)}")
    data = bfcl_data_dir()
    questions: list[dict] = []
    answer_rows: list[dict] = []
    for name in categories:
        questions += load_xlam(str(_category_file(data, name)))
        if name.removeprefix("live_") != IRRELEVANCE:  # irrelevance rows have no possible_answer file
            answer_rows += load_xlam(str(_category_file(data / "possible_answer", name)))
    return questions, Answers(answer_rows)


def bfcl_data_dir() -> Path:
    """bfcl_eval/data of the installed bfcl-eval wheel, found without importing the package (its code needs
    dependencies this project does not install)."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("a bfcl: source needs the bfcl-eval package: pip install --no-deps bfcl-eval "
                                "(make install does)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _category_file(folder: Path, category: str) -> Path:
    """The one BFCL_v<N>_<category>.json in `folder` (the version number changes between releases)."""
    pattern = re.compile(rf"BFCL_v\d+_{category}\.json")
    found = sorted(path for path in folder.glob("BFCL_v*.json") if pattern.fullmatch(path.name))
    if len(found) != 1:
        raise FileNotFoundError(f"{folder}: expected one BFCL_v<N>_{category}.json, found {len(found)}")
    return found[0]
