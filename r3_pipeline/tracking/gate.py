"""The promotion gate's rules, apart from the registry that applies them: when a trained version may take the
`champion` alias. Plain functions of the numbers and the current champion's tags, so the rules read (and are
tested) on their own; registry.py holds the lock and moves the aliases.
"""

from __future__ import annotations

import math

CHAMPION, CHALLENGER = "champion", "challenger"
SCORE_TAG = "second_attempt_accuracy"


def decide(score: float, champion, baseline_score: float, gain_low: float) -> tuple[str, str]:
    if champion is not None:
        # A champion without a score (set by hand) is held to the base model's bar.
        bar, against = float(champion.tags.get(SCORE_TAG, baseline_score)), f"champion v{champion.version}"
    else:
        bar, against = baseline_score, "the base model"
    if not math.isfinite(score):
        return CHALLENGER, f"second-attempt accuracy {score} is not a finite number, so it cannot beat {against}"
    if not score > bar:
        return CHALLENGER, f"second-attempt accuracy {score:.4f} does not beat {against} ({bar:.4f})"
    beats = f"second-attempt accuracy {score:.4f} beats {against} ({bar:.4f})"
    interval = f"the paired 95% interval of its gain over the base model ({baseline_score:.4f}) starts at {gain_low:+.4f}"
    if not gain_low > 0:  # NaN included
        return CHALLENGER, f"{beats}, but within noise: {interval}"
    return CHAMPION, f"{beats}, and {interval}"


def guard_forgetting(alias: str, reason: str, champion, regression: dict | None) -> tuple[str, str]:
    """The forgetting guard over `decide`'s verdict: a would-be champion significantly worse than the champion
    on the regression set stays challenger; the regression numbers join the reason either way."""
    if champion is None or regression is None:  # None: the caller measured no regression set
        return alias, reason
    if regression.get("champion") is None:  # measured when there was no champion yet; one appeared since
        return (CHALLENGER, f"{reason}; but no regression set was measured against champion v{champion.version}") \
            if alias == CHAMPION else (alias, reason)
    lo, hi = regression["ci"]
    numbers = (f"on the regression set ({regression['held_out']} held-out tasks and {regression['production']} "
               f"earlier production rows v{regression['champion']} fixed) second-attempt accuracy "
               f"{regression['trained_second']:.4f} against the champion's {regression['champion_second']:.4f}, "
               f"paired 95% interval [{lo:+.4f}, {hi:+.4f}]")
    if str(regression["champion"]) != str(champion.version):
        return (CHALLENGER if alias == CHAMPION else alias,
                f"{reason}; its regression set was measured against v{regression['champion']}, but the champion "
                f"is now v{champion.version}")
    if not hi >= 0:  # NaN included
        return CHALLENGER, (f"{reason}; {'but it' if alias == CHAMPION else 'it also'} forgets: {numbers}, "
                            "significantly worse")
    return alias, f"{reason}; {numbers}, not significantly worse"
