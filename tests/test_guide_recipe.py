"""The guide's Trainer recipe (``guide-recipe``): traced is reported only when the Trainer evaluated
a ScriptModule; a trace that fails is reported as a fall-back with the Trainer's reason; the
guide's flags are read from this lane's ``TrainingArguments``."""

from __future__ import annotations

import dataclasses
import functools

import pytest
import torch

from infergate.building.variants import EAGER, JIT
from infergate.matrix.inputs import Shape
from infergate.matrix.models import build_model
from infergate.matrix.spec import ModelSpec
from infergate.matrix.zoo import ARCHS, EAGER_ATTENTION, SIZES, Task
from infergate.measuring import guide_recipe
from infergate.measuring.guide_recipe import (
    FELL_BACK,
    GUIDE_FLAGS,
    NOT_RUN,
    RECIPE_FLAG,
    TRACED,
    TRAINER,
    guide_flags,
    measure_recipe,
    speedup,
    trainer_outcome,
)
from infergate.measuring.isolation import run_in_worker
from infergate.measuring.sampling import SamplingPlan
from infergate.reports.guide_recipe_report import render, what_it_did

SPEC = ModelSpec(ARCHS["bert"], Task.SEQ_CLS, SIZES["tiny"], EAGER_ATTENTION)
SHAPE = Shape(2, 16)
PLAN = SamplingPlan(budget_s=0.3, warmup_s=0.1, min_rounds=5, seed=0)
REFUSAL = "this model refuses to be traced (test)"

needs_recipe = pytest.mark.skipif(not guide_flags()[RECIPE_FLAG],
                                  reason=f"this lane's TrainingArguments has no {RECIPE_FLAG}")


def untraceable(spec: ModelSpec) -> torch.nn.Module:
    """The zoo's model, whose forward raises while torch.jit traces it and runs as usual otherwise."""
    model = build_model(spec)
    forward = model.forward

    @functools.wraps(forward)  # the tracer and the Trainer read forward's signature
    def refusing(*args, **kwargs):
        if torch.jit.is_tracing():
            raise RuntimeError(REFUSAL)
        return forward(*args, **kwargs)

    model.forward = refusing
    return model


# -- the guide's flags, per lane ---------------------------------------------------------------


def test_the_flags_are_the_fields_of_the_training_arguments_in_use(monkeypatch) -> None:
    import transformers

    @dataclasses.dataclass
    class Args:
        output_dir: str = ""
        use_ipex: bool = False

    monkeypatch.setattr(transformers, "TrainingArguments", Args)
    assert guide_flags() == {"no_cuda": False, "jit_mode_eval": False, "use_ipex": True}


def test_a_flag_is_reported_present_exactly_when_the_guides_command_line_accepts_it() -> None:
    from transformers import HfArgumentParser, TrainingArguments

    options = {s for action in HfArgumentParser(TrainingArguments)._actions for s in action.option_strings}
    assert guide_flags() == {flag: f"--{flag}" in options for flag in GUIDE_FLAGS}


def test_without_jit_mode_eval_nothing_is_built_and_the_row_says_why(monkeypatch) -> None:
    monkeypatch.setattr(guide_recipe, "guide_flags", lambda: dict.fromkeys(GUIDE_FLAGS, False))

    def no_model(spec):
        raise AssertionError("built a model although the recipe cannot run")

    row = measure_recipe(SPEC, SHAPE, PLAN, factory=no_model)
    assert (row.status, row.timing) == (NOT_RUN, None)
    assert RECIPE_FLAG in row.reason and "not run" in what_it_did(row)


# -- the outcome rule ------------------------------------------------------------------------


def test_only_a_script_module_counts_as_traced() -> None:
    module = torch.nn.Linear(2, 2).eval()
    script = torch.jit.freeze(torch.jit.trace(module, torch.ones(1, 2)))
    assert trainer_outcome(script, []) == (TRACED, "")
    warning = "failed to use PyTorch jit mode due to: boom."
    assert trainer_outcome(module, ["unrelated: jit mode", warning]) == (FELL_BACK, warning)
    status, reason = trainer_outcome(module, [])  # no warning at all: still not traced
    assert status == FELL_BACK and "no jit warning logged" in reason and "Linear" in reason


# -- the Trainer, run (tiny models, one worker each: accelerate imports IPEX where it is installed) --


@pytest.fixture(scope="module")
def traced_row():
    return run_in_worker(measure_recipe, SPEC, SHAPE, PLAN, timeout=300)


@pytest.fixture(scope="module")
def refused_row():
    return run_in_worker(measure_recipe, SPEC, SHAPE, PLAN, untraceable, timeout=300)


@needs_recipe
def test_a_model_that_traces_is_reported_traced_and_timed_beside_the_suites_jit(traced_row) -> None:
    row = traced_row
    assert row.status == TRACED, row.reason
    assert row.script_module and row.parameters == 0  # torch_jit_model_eval froze it
    assert row.evaluated_with == "torch.jit._script.RecursiveScriptModule", row.evaluated_with
    assert row.failed == {} and row.max_abs_vs_eager is not None and row.max_abs_vs_eager < 1e-4
    assert row.timing is not None and set(row.timing.times_ns) == {TRAINER, JIT, EAGER}
    assert row.timing.rounds >= PLAN.min_rounds
    assert speedup(row, TRAINER, JIT) is not None and speedup(row, JIT, EAGER) is not None
    assert "| traced: ScriptModule, frozen" in render([row], {}, {"lane": row.flags})


@needs_recipe
def test_a_model_whose_trace_fails_is_reported_fell_back_with_the_trainers_reason(refused_row) -> None:
    row = refused_row
    assert row.status == FELL_BACK
    assert "failed to use PyTorch jit mode" in row.reason and REFUSAL in row.reason
    assert not row.script_module and row.parameters > 0 and row.evaluated_with.startswith("transformers.")
    # the suite's own jit fails on the same model: a build error, never an eager stand-in
    assert REFUSAL in row.failed[JIT] and JIT not in row.timing.times_ns
    assert set(row.timing.times_ns) == {TRAINER, EAGER}
    text = render([row], {}, {"lane": row.flags})
    assert "fell back: failed to use PyTorch jit mode" in text and "traced:" not in text


def test_a_written_report_reads_back_and_renders_the_same(tmp_path) -> None:
    from infergate.commands.guide_recipe_cli import _write, load, render_again
    from infergate.measuring.guide_recipe import RecipeRow
    from infergate.measuring.inrun_noise import InRunNoise
    from infergate.measuring.sampling import ModelMeasurement

    times = {TRAINER: [90, 91, 92], JIT: [100, 101, 99], EAGER: [200, 210, 190]}
    timing = ModelMeasurement("m-b1s16", "fp32", list(times), times, rounds=3,
                              noise=InRunNoise(samples=3, others_runnable=2.0, others_runnable_max=3))
    rows = [RecipeRow("m", "bert", "qa", "b1s16", {"jit_mode_eval": True}, status=TRACED, parameters=0,
                      script_module=True, timing=timing),
            RecipeRow("n", "bert", "qa", "b1s16", {"jit_mode_eval": True}, status=FELL_BACK, reason="why")]
    # Facts in the order the command writes them, which a JSON file's sorted keys lose.
    _write(tmp_path, rows, {"command": "`c`", "wall time": "1.0 min", "lane": "L"}, {"jit_mode_eval": True}, "L")
    first = (tmp_path / "guide-recipe.md").read_text()
    assert first.index("- wall time") < first.index("- lane")
    # One direction: the Trainer's model (90 ns a call) ran about 2.2x faster than eager (200 ns).
    assert "trainer vs eager (× faster)" in first and "| 2.2" in first
    assert load(tmp_path / "guide-recipe.json")[1] == rows
    assert "3 rounds; busy: 2.00 other runnable" in first and "fell back: why" in first
    assert render_again(tmp_path) == 0 and (tmp_path / "guide-recipe.md").read_text() == first


@pytest.mark.parametrize(("header", "problem"), [
    ({}, "facts must be an object, got null"),
    ({"facts": {}, "flags": {}}, "facts.lane must be a string, got null"),
    ({"facts": {"lane": "l"}, "flags": []}, "flags must be an object, got []"),
    ({"facts": {"lane": "l"}, "flags": {"jit_mode_eval": "yes"}}, "flags must map each flag to true or false"),
])
def test_a_report_missing_its_facts_or_flags_is_one_line_not_a_traceback(tmp_path, capsys, header, problem) -> None:
    import json

    from infergate.commands.guide_recipe_cli import SCHEMA, VERSION, main

    report = tmp_path / "guide-recipe.json"
    report.write_text(json.dumps({"schema": SCHEMA, "version": VERSION, "rows": [], **header}))
    before = report.read_bytes()
    assert main(["--render", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"infergate guide-recipe: guide-recipe file {report}: {problem}\n"
    assert report.read_bytes() == before and not (tmp_path / "guide-recipe.md").exists()
