"""``knoblab recipe``: the list, one recipe's verdict as JSON with its run
folders, and a clear refusal of what it cannot run."""

from __future__ import annotations

import json

from lab.cli.main import main
from lab.core.config import ExperimentConfig
from lab.engine.runs import load_run
from lab.recipes import RECIPES


def test_list_names_every_recipe_with_its_claim(capsys):
    assert main(["recipe", "--list"]) == 0
    out = capsys.readouterr().out
    for r in RECIPES.values():
        assert r.name in out and r.info.title in out


def test_a_recipe_prints_its_verdict_as_json_and_writes_each_arm(tmp_path, capsys):
    out = tmp_path / "exploding"
    code = main(["recipe", "exploding-signals", "--fast", "--json", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    result = json.loads(printed.out)  # one object on stdout; progress went to stderr
    assert result["pass"] is True and result["recipe"] == "exploding-signals"
    assert [c["pass"] for c in result["checks"]] == [True, True]
    assert len(result["arms"]) == 3
    for arm in result["arms"]:
        config = ExperimentConfig.from_dict(arm["config"])  # each arm: a full config
        run = load_run(arm["run_dir"])  # and a run folder the app opens
        assert run.config == config
    saved = json.loads((out / "recipe.json").read_text())
    assert saved["checks"] == result["checks"]
    gains = [a["config"]["init"]["gain"] for a in result["arms"]]
    assert gains == [1.0, 1.5, 2.0]


def test_text_output_says_pass_and_the_numbers(capsys):
    assert main(["recipe", "accumulation", "--fast", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS: Gradient accumulation") and "relative difference" in out


def test_unknown_recipe_and_missing_name_exit_2(capsys):
    assert main(["recipe", "no-such-recipe"]) == 2
    assert "recipe: 'no-such-recipe' is not one of" in capsys.readouterr().err
    assert main(["recipe"]) == 2
    assert "NAME: give a recipe's name or --all" in capsys.readouterr().err


def test_a_recipe_runs_every_arm_on_the_data_asked_for(tmp_path, capsys):
    out = tmp_path / "on-wine"
    code = main(["recipe", "dying-relus", "--fast", "--data", "wine", "--json", "--jobs", "1",
                 "--out", str(out)])  # fmt: skip
    printed = capsys.readouterr()
    assert code in (0, 4), printed.err  # a verdict, passed or not, on other data
    result = json.loads(printed.out)
    assert len(result["arms"]) >= 2
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        config = ExperimentConfig.load(folder / "config.toml")
        assert config.data.name == "wine" and config.model.kind == "mlp"
