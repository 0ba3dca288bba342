"""The promotion gate on a real MLflow SQLite store: a better model takes `champion`, a worse, equal or NaN one
is only the `challenger` (the champion stays), reasons and the previous champion are recorded, registration is
idempotent per training run, rollback walks back the previous-champion chain (also through `r3 rollback`), and
a retraining run can start from the champion."""

import argparse
import math
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from r3_pipeline import registry_cli, stages, tracking
from r3_pipeline.layout import Layout
from r3_pipeline.models.loading import load_model


SIGNIFICANT = 0.01  # the lower end of a paired interval that lies above zero
NAME = "r3-micro-test"


def _new_run(home: Path, experiment: str = "micro") -> str:
    with mlflow.start_run(experiment_id=tracking.configure(home, experiment)) as run:
        pass
    return run.info.run_id


def _register(home: Path, model_dir: Path, score: float, baseline: float, name: str = NAME,
              experiment: str = "micro", gain_low: float = SIGNIFICANT) -> tracking.Promotion:
    version = tracking.log_model_version(model_dir, name, _new_run(home, experiment))
    return tracking.promote(name, version, score, baseline, gain_low)


def _champion(name: str = NAME) -> str:
    return str(MlflowClient().get_model_version_by_alias(name, "champion").version)


def test_promotion_gate_and_start_from_champion(tmp_path, micro_spec, tiny_model):
    home = tmp_path / "home"
    first = _register(home, tiny_model(tmp_path / "m1", 1), score=0.30, baseline=0.20)
    assert first.alias == "champion" and "beats the base model" in first.reason
    worse = _register(home, tiny_model(tmp_path / "m2", 2), score=0.25, baseline=0.20)
    assert worse.alias == "challenger" and f"does not beat champion v{first.version}" in worse.reason
    better = _register(home, tiny_model(tmp_path / "m3", 3), score=0.40, baseline=0.20)
    assert better.alias == "champion" and better.previous_champion == first.version

    client = MlflowClient()
    assert _champion() == better.version
    assert str(client.get_model_version_by_alias(NAME, "challenger").version) == worse.version
    assert client.get_model_version(NAME, worse.version).tags["promotion_reason"] == worse.reason

    info = stages.build_base_model(micro_spec, Layout(home), start_from="champion")
    assert info["model_id"] == f"r3-micro-test/v{better.version}"
    model, _ = load_model(info["path"])
    expected, _ = load_model(tmp_path / "m3")
    assert all((a == b).all() for a, b in zip(model.state_dict().values(), expected.state_dict().values()))


def test_start_from_champion_without_one_falls_back_to_the_spec_model(tmp_path, micro_spec):
    layout = Layout(tmp_path / "home")
    stages.prepare_tasks(micro_spec, layout)
    info = stages.build_base_model(micro_spec, layout, start_from="champion")
    assert info["model_id"].startswith("micro:embedded:") and "no champion registered" in info["note"]


def test_worse_equal_and_nan_models_never_take_champion(tmp_path, tiny_model):
    home, model = tmp_path / "home", tiny_model(tmp_path / "m", 1)
    assert _register(home, model, score=0.20, baseline=0.20).alias == "challenger"  # ties the base model
    assert _register(home, model, score=math.nan, baseline=0.20).alias == "challenger"
    assert tracking.champion_uri(NAME) is None
    first = _register(home, model, score=0.30, baseline=0.20)
    losers = [_register(home, model, score=s, baseline=0.20) for s in (0.30, 0.29, math.nan, math.inf)]
    assert all(p.alias == "challenger" and p.previous_champion is None for p in losers)
    assert "does not beat champion" in losers[0].reason and "not a finite number" in losers[3].reason
    assert _champion() == first.version


def test_a_gain_within_noise_never_takes_champion(tmp_path, tiny_model):
    """Beating the bar on the point estimate is not enough: the paired interval of the gain over the base model
    must lie above zero (its lower end, `gain_low`, > 0)."""
    home, model = tmp_path / "home", tiny_model(tmp_path / "m", 1)
    noisy = [_register(home, model, score=0.63, baseline=0.628, gain_low=low) for low in (-0.003, 0.0, math.nan)]
    assert all(p.alias == "challenger" for p in noisy) and tracking.champion_uri(NAME) is None
    assert "beats the base model (0.6280), but within noise" in noisy[0].reason and "starts at -0.0030" in noisy[0].reason
    first = _register(home, model, score=0.70, baseline=0.628, gain_low=0.04)
    assert first.alias == "champion" and "starts at +0.0400" in first.reason
    # Retrained from the champion (so the champion is the base): a noisy gain over it keeps the champion.
    assert _register(home, model, score=0.71, baseline=0.70, gain_low=-0.01).alias == "challenger"
    assert _champion() == first.version


def test_registration_and_promotion_are_idempotent_per_run(tmp_path, tiny_model):
    home, model = tmp_path / "home", tiny_model(tmp_path / "m", 1)
    first = _register(home, model, score=0.30, baseline=0.20)
    run = _new_run(home)
    version = tracking.log_model_version(model, NAME, run)
    promotion = tracking.promote(NAME, version, 0.40, 0.20, SIGNIFICANT)
    # The registered_model asset materialized again after an interruption: same version, same decision.
    assert tracking.log_model_version(model, NAME, run) == version
    assert tracking.promote(NAME, version, 0.40, 0.20, SIGNIFICANT) == promotion
    assert promotion.alias == "champion" and promotion.previous_champion == first.version
    assert [str(v.version) for v in tracking.model_versions(NAME)] == [first.version, version]
    experiment = mlflow.get_run(run).info.experiment_id
    assert len(mlflow.search_logged_models(experiment_ids=[experiment], output_format="list",
                                           filter_string=f"source_run_id='{run}'")) == 1

    # Interrupted after the alias moved but before the decision was recorded: completed, not decided again.
    crashed = tracking.log_model_version(model, NAME, _new_run(home))
    MlflowClient().set_model_version_tag(NAME, crashed, "previous_champion", version)
    MlflowClient().set_registered_model_alias(NAME, "champion", crashed)
    assert tracking.promote(NAME, crashed, 0.50, 0.20, SIGNIFICANT).previous_champion == version


def test_rollback_walks_back_the_previous_champion_chain(tmp_path, tiny_model):
    home, model = tmp_path / "home", tiny_model(tmp_path / "m", 1)
    v1, v2, v3 = (_register(home, model, score=s, baseline=0.20).version for s in (0.30, 0.40, 0.50))
    first = tracking.rollback(NAME, reason="answers drift in use")
    assert (first.demoted, first.champion) == (v3, v2) and first.note.endswith("answers drift in use")
    assert _champion() == v2
    second = tracking.rollback(NAME)
    assert (second.demoted, second.champion) == (v2, v1) and _champion() == v1
    tags = {str(v.version): (v.aliases, v.tags) for v in tracking.model_versions(NAME)}
    assert tags[v2][0] == ["rolled_back"] and tags[v1][1]["rolled_back_from"] == v2
    assert tags[v3][1]["rollback_reason"] == first.note and tags[v3][0] == []  # demoted, still registered
    # Later models are held to the restored champion's bar.
    assert _register(home, model, score=0.35, baseline=0.20).previous_champion == v1
    assert tracking.rollback(NAME, to_version=v3).champion == v3 and _champion() == v3


def test_rollback_errors_leave_the_champion(tmp_path, tiny_model):
    home, model = tmp_path / "home", tiny_model(tmp_path / "m", 1)
    _register(home, model, score=0.10, baseline=0.20)
    with pytest.raises(ValueError, match="has no champion"):
        tracking.rollback(NAME)
    first = _register(home, model, score=0.30, baseline=0.20)
    with pytest.raises(ValueError, match="records no previous champion"):
        tracking.rollback(NAME)
    with pytest.raises(ValueError, match="has no version '99'"):
        tracking.rollback(NAME, to_version="99")
    with pytest.raises(ValueError, match="already the champion"):
        tracking.rollback(NAME, to_version=first.version)
    assert _champion() == first.version


def test_registry_and_rollback_commands(tmp_path, monkeypatch, capsys, tiny_model):
    from r3_pipeline.spec import load_specs

    spec = load_specs()[0]
    home, model = tmp_path / "home", tiny_model(tmp_path / "m", 1)
    monkeypatch.setenv("R3_HOME", str(home))
    old, new = (_register(home, model, s, 0.20, spec.registered_name, spec.name).version for s in (0.30, 0.40))
    parser = argparse.ArgumentParser(prog="r3")
    registry_cli.add_registry_parsers(parser.add_subparsers(dest="command", required=True))

    def r3(*argv: str) -> str:
        args = parser.parse_args(argv)
        assert args.func(args) == 0
        return capsys.readouterr().out

    listing = r3("registry", "--spec", spec.name).splitlines()[1:]
    assert listing[0].startswith(f"v{new}\tchampion\t0.400000\t") and f"previous champion v{old}" in listing[0]
    assert f"champion is now v{old}" in r3("rollback", "--spec", spec.name, "--reason", "bad outputs")
    assert _champion(spec.registered_name) == old
    listing = r3("registry", "--spec", spec.name).splitlines()[1:]
    assert listing[0].startswith(f"v{new}\trolled_back\t") and "bad outputs" in listing[0]
    assert f"champion is now v{new}" in r3("rollback", "--spec", spec.name, "--to", new)
    with pytest.raises(ValueError, match="unknown spec"):
        r3("rollback", "--spec", "no-such-spec")


def _regression(champion: str, ci: tuple[float, float], held_out: int = 24, production: int = 10) -> dict:
    """A regression set's numbers as stages.evaluation.regression reports them."""
    return {"champion": champion, "n": held_out + production, "held_out": held_out, "production": production,
            "champion_second": 0.5, "trained_second": 0.5 + (ci[0] + ci[1]) / 2, "diff": (ci[0] + ci[1]) / 2,
            "ci": list(ci), "ok": not ci[1] < 0}


def test_a_version_that_gains_held_out_but_forgets_is_not_promoted(tmp_path, tiny_model, monkeypatch, capsys):
    """The forgetting guard: a significant held-out gain over the champion is not enough when the version is
    significantly worse than the champion on the regression set (held-out tasks and earlier production failures
    the champion fixed); `r3 registry` says why."""
    from r3_pipeline.spec import load_specs

    spec = load_specs()[0]
    name, home, model = spec.registered_name, tmp_path / "home", tiny_model(tmp_path / "m", 1)
    monkeypatch.setenv("R3_HOME", str(home))
    champion = _register(home, model, 0.30, 0.20, name, spec.name)

    def candidate(regression: dict) -> tracking.Promotion:
        version = tracking.log_model_version(model, name, _new_run(home, spec.name))
        return tracking.promote(name, version, 0.45, 0.30, SIGNIFICANT, regression)

    forgets = candidate(_regression(champion.version, (-0.30, -0.05)))
    assert forgets.alias == "challenger" and _champion(name) == champion.version
    assert "beats champion" in forgets.reason and "but it forgets" in forgets.reason
    assert "10 earlier production rows" in forgets.reason and "[-0.3000, -0.0500]" in forgets.reason
    stale = candidate(_regression("99", (0.01, 0.2)))  # measured against another champion than today's
    assert stale.alias == "challenger" and "measured against v99" in stale.reason
    keeps = candidate(_regression(champion.version, (-0.05, 0.10)))
    assert keeps.alias == "champion" and "not significantly worse" in keeps.reason

    registry_cli.cmd_registry(argparse.Namespace(spec=spec.name))
    shown = {line.split("\t")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "but it forgets" in shown[f"v{forgets.version}"] and "\tchampion\t" in shown[f"v{keeps.version}"]
