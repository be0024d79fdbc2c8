"""Any experiment one can write either trains a step (with a finite loss, or
an explicitly reported non-finite one) or is refused with ``ConfigError``
naming a field: never another exception, never a hang. A few hundred random
experiments here; ``bench/fuzz_configs.py`` runs a thousand and more."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings

from lab.core.config import field_knob, flatten
from lab.core.fields import ConfigError
from lab.train.trainer import Trainer, TrainingStopped
from tests.lab.config_strategies import build, experiment_dicts


def points_at_the_culprit(field: str, data: dict) -> bool:
    """Whether ``field`` names something the person can find: a value or a
    table they wrote (``model.layers[2]``, an unknown key among theirs), or a
    field of the config (a default that does not fit what they wrote)."""
    written = flatten(data)
    if any(key == field or key.startswith((f"{field}.", f"{field}[")) for key in written):
        return True
    try:
        field_knob(field)
    except ConfigError:
        return False
    return True


def one_step(data: dict) -> str:
    """What became of one experiment: "refused", "stopped" or "trained"."""
    try:
        config = build(data)
        trainer = Trainer(config)
    except ConfigError as exc:
        assert points_at_the_culprit(exc.field, data), (exc.field, str(exc))
        assert exc.message.strip() and exc.message != exc.field  # says what is wrong
        return "refused"
    try:
        result = trainer.step()
    except TrainingStopped as exc:
        assert "non-finite" in str(exc)
        return "stopped"
    assert math.isfinite(result.loss)
    return "trained"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(experiment_dicts())
def test_any_experiment_trains_a_step_or_is_refused_naming_a_field(data):
    one_step(data)
