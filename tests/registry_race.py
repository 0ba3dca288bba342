"""Racing registrations: separate processes register and promote at the same moment, round after round, and the
registry must stay consistent: one champion, the best so far, every version decided, and one unbroken
previous-champion chain through every version that was ever promoted. Shared by the SQLite test
(tests/test_registry_concurrency.py) and the tracking-server test (tests/test_deploy.py); the workers are spawned
processes, which inherit the environment that picks the store (R3_MLFLOW_TRACKING_URI, R3_REGISTRY_LOCK_URL)."""

import multiprocessing
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from r3_pipeline import tracking

NAME, EXPERIMENT, BASELINE = "r3-race-test", "race", 0.20
# SCORES[round][worker]: each round has near-equal winners; some rounds a tie (0.32) or a clear loser (0.10).
SCORES = [[0.30, 0.32, 0.31], [0.40, 0.32, 0.41], [0.50, 0.55, 0.10]]
WAIT_S = 300


def _worker(home: str, model_dir: str, scores: list[float], barrier) -> None:
    experiment = tracking.configure(Path(home), EXPERIMENT)
    for score in scores:
        barrier.wait(WAIT_S)
        with mlflow.start_run(experiment_id=experiment) as run:
            pass
        version = tracking.log_model_version(Path(model_dir), NAME, run.info.run_id)
        barrier.wait(WAIT_S)  # every worker promotes at the same moment
        tracking.promote(NAME, version, score, BASELINE, gain_low=0.01)
        barrier.wait(WAIT_S)  # the parent checks the registry


def _check_registry(scores_so_far: list[float]) -> None:
    versions = {str(v.version): v.tags for v in tracking.model_versions(NAME)}
    assert len(versions) == len(scores_so_far)
    assert all(tracking.DECISION_TAG in tags for tags in versions.values())
    assert sorted(float(tags[tracking.SCORE_TAG]) for tags in versions.values()) == sorted(scores_so_far)
    champion = str(MlflowClient().get_model_version_by_alias(NAME, "champion").version)
    assert float(versions[champion][tracking.SCORE_TAG]) == max(scores_so_far)
    chain = [champion]
    while tracking.PREVIOUS_TAG in versions[chain[-1]]:
        chain.append(versions[chain[-1]][tracking.PREVIOUS_TAG])
    promoted = {v for v, tags in versions.items() if tags[tracking.DECISION_TAG] == "champion"}
    assert set(chain) == promoted and len(chain) == len(promoted)
    chain_scores = [float(versions[v][tracking.SCORE_TAG]) for v in chain]
    assert chain_scores == sorted(chain_scores, reverse=True) and len(set(chain_scores)) == len(chain_scores)


def race(home: Path, model: Path) -> None:
    """Run the race on the tracking store `tracking.configure(home, ...)` picks, checking the registry after each round."""
    tracking.configure(home, EXPERIMENT)  # create the store once, as an earlier pipeline stage would
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(SCORES[0]) + 1)
    workers = [ctx.Process(target=_worker, args=(str(home), str(model), [r[w] for r in SCORES], barrier))
               for w in range(len(SCORES[0]))]
    for p in workers:
        p.start()
    try:
        scores_so_far: list[float] = []
        for round_scores in SCORES:
            for _ in range(3):
                barrier.wait(WAIT_S)
            scores_so_far += round_scores
            _check_registry(scores_so_far)
    finally:
        barrier.abort()
        for p in workers:
            p.join(WAIT_S)
    assert [p.exitcode for p in workers] == [0] * len(workers)
