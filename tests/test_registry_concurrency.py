"""Racing registrations on one real SQLite MLflow store (the race itself is in tests/registry_race.py, which the
tracking-server test shares): separate processes register and promote at the same moment, round after round, and the
registry must stay consistent: one champion, the best so far, every version decided, and one unbroken
previous-champion chain through every version that was ever promoted."""

from tests.registry_race import race


def test_concurrent_registrations_leave_a_consistent_registry(tmp_path, tiny_model, monkeypatch):
    monkeypatch.delenv("R3_MLFLOW_TRACKING_URI", raising=False)  # the SQLite store under home
    race(tmp_path / "home", tiny_model(tmp_path / "m", 1))
