"""The fusion check: pattern mapping and comparison on synthetic counts (any lane), the expectation
file format, and on the ipex lane proof that disabling IPEX's fusion passes is caught by name."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from infergate.building.capabilities import probe
from infergate.building.cases import PROFILES, Case
from infergate.building.harness import skip_reason
from infergate.core.errors import DataFileError
from infergate.matrix.dtypes import DType
from infergate.matrix.spec import ModelSpec
from infergate.matrix.zoo import ARCHS, SIZES, Task
from infergate.measuring import fusion_patterns, fusions
from infergate.measuring.fusion_patterns import PATTERNS, signals
from infergate.measuring.fusions import compare

MACHINE = "amd-epyc-9b14__avx2__2c2t"
LANE = "torch-2.8.0__ipex-2.8.0__tf-4.57.6"

# Shaped like the executed graph of a 4-layer BERT QA model under jit_ipex with eager attention
# (25 nn.Linear calls; Q, K, V merged per layer): the kinds IPEX 2.8 emits, counts made up.
IPEX_EAGER = Counter({
    "ipex::mha_scores_calc": 4, "ipex::matmul_outtrans": 4, "ipex::add_layernorm": 8,
    "ipex_prepack::mkl_sgemm_run": 17, "aten::split_with_sizes": 4, "aten::gelu": 4, "aten::layer_norm": 1,
})
PLAIN_JIT_SDPA = Counter({"aten::linear": 25, "aten::scaled_dot_product_attention": 4, "aten::layer_norm": 9})


# -- mapping ---------------------------------------------------------------------------------


def test_ipex_kinds_map_to_the_seed_patterns() -> None:
    got = signals(IPEX_EAGER, linear_calls=25)
    assert got["mha"] == 4 and got["add_layernorm"] == 8 and got["prepacked_linear"] == 17
    assert got["concat_linear"] == 25 - 17  # Q,K,V -> one linear: 2 fewer nodes per layer
    assert got["linear_add"] == 0 and got["linear_gelu"] == 0
    # Every IPEX kind is reported one by one, mapped or not; plain aten ops are not.
    assert got["ipex::matmul_outtrans"] == 4
    assert "aten::gelu" not in got and "aten::split_with_sizes" not in got
    assert "ipex::add_layernorm" not in got  # counted once, under its pattern


def test_distilbert_and_fused_linear_variants() -> None:
    got = signals(Counter({"ipex::distil_mha_scores_calc": 6, "ipex_prepack::linear_gelu_run": 6,
                           "ipex_prepack::linear_add_run": 12, "ipex_prepack::linear_run": 18}), None)
    assert got["mha"] == 6 and got["linear_gelu"] == 6 and got["linear_add"] == 12
    # A linear fused with its post-op is still a prepacked linear: fusing must not read as a loss.
    assert got["prepacked_linear"] == 36
    assert "concat_linear" not in got  # no eager reference given


def test_plain_jit_reports_native_fused_kinds() -> None:
    got = signals(PLAIN_JIT_SDPA, linear_calls=25)
    assert {p.key: got[p.key] for p in PATTERNS} == {p.key: 0 for p in PATTERNS}
    assert got["aten::linear"] == 25 and got["aten::scaled_dot_product_attention"] == 4
    assert "aten::layer_norm" not in got


def test_pattern_table_is_well_formed() -> None:
    keys = [p.key for p in PATTERNS]
    assert len(set(keys)) == len(keys)
    assert {p.title for p in PATTERNS} == {  # the seed guide's five, plus prepacked linear
        "Multi-head attention", "Concat Linear", "Linear+Add", "Linear+Gelu", "Add+LayerNorm",
        "Prepacked linear",
    }
    assert all("::" not in key for key in keys)  # pattern keys never collide with kind names
    for pattern in PATTERNS:
        assert pattern.why and all(fusion_patterns.is_tracked_kind(k) for k in pattern.kinds)


@pytest.mark.ipex
def test_every_ipex_kind_named_is_an_op_of_the_installed_ipex() -> None:
    if probe().ipex_problem:
        pytest.skip(probe().ipex_problem)
    import importlib.util
    import mmap

    lib = Path(importlib.util.find_spec("intel_extension_for_pytorch").origin).parent / "lib"
    named = {k for p in PATTERNS for k in p.kinds} | set(fusion_patterns.LINEAR_KINDS) - {"aten::linear"}
    missing = set(named)
    for so in lib.glob("*.so"):  # the ops are registered by name in the libraries
        with so.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as blob:
            missing = {k for k in missing if blob.find(k.encode()) < 0}
    assert sorted(missing) == []


# -- comparing -------------------------------------------------------------------------------


def test_a_lost_fusion_fails_naming_pattern_case_and_counts() -> None:
    before = signals(IPEX_EAGER, 25)
    after = signals(IPEX_EAGER - Counter({"ipex::mha_scores_calc": 4}), 25)
    verdict = compare("bert-qa-small-eager_attn-jit_ipex-fp32", before, after)
    assert verdict.failed and [c.signal for c in verdict.lost] == ["mha"]
    assert verdict.message() == (
        "bert-qa-small-eager_attn-jit_ipex-fp32: lost fusion(s) Multi-head attention 4 -> 0"
    )


def test_a_new_fusion_is_reported_not_failed() -> None:
    verdict = compare("c", signals(IPEX_EAGER, 25), signals(IPEX_EAGER + Counter({"ipex::softmax": 2}), 25))
    assert not verdict.failed and [str(c) for c in verdict.new] == ["ipex::softmax 0 -> 2"]
    assert "new fusion(s)" in verdict.message()


def test_a_partial_loss_is_a_loss_and_losses_come_before_kinds() -> None:
    fewer = IPEX_EAGER - Counter({"ipex::add_layernorm": 1, "ipex::matmul_outtrans": 4})
    verdict = compare("c", signals(IPEX_EAGER, 25), signals(fewer, 25))
    assert [str(c) for c in verdict.lost] == ["Add+LayerNorm 8 -> 7", "ipex::matmul_outtrans 4 -> 0"]


def test_no_expectation_and_no_change() -> None:
    assert not compare("c", None, {"mha": 1}).failed and not compare("c", None, {}).expected
    same = compare("c", signals(IPEX_EAGER, 25), signals(IPEX_EAGER, 25))
    assert same.expected and not same.failed and not same.new and same.message() == "c: fusions as expected"


# -- cases -----------------------------------------------------------------------------------


def test_fusion_cases_cover_the_perf_specs_with_both_torchscript_variants() -> None:
    profile = PROFILES["default"]
    cases = fusions.fusion_cases(profile)
    spec_ids = {s.id for sel in profile.perf for s in sel.specs()}
    assert {c.spec.id for c in cases} == spec_ids
    assert len(cases) == len({c.id for c in cases}) == len(spec_ids) * 4
    assert {c.variant for c in cases} == {"jit", "jit_ipex"}


def test_ipex_cases_skip_with_the_pairing_reason_where_ipex_cannot_run() -> None:
    problem = probe().ipex_problem
    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    assert skip_reason(Case(spec, "jit", DType.FP32)) is None
    if problem is None:
        pytest.skip("this lane can run IPEX; the pairing skip is checked on a lane without it")
    assert skip_reason(Case(spec, "jit_ipex", DType.FP32)) == problem


# -- expectation files -----------------------------------------------------------------------


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return fusions.fusions_path(tmp_path, MACHINE, LANE)


def test_update_merges_and_round_trips(path: Path) -> None:
    assert fusions.load(path) is None
    fusions.update(path, {"a": {"mha": 4}}, MACHINE, LANE, recorded="2025-11-25T12:00:00+00:00")
    fusions.update(path, {"b": {"mha": 0, "aten::linear": 25}}, MACHINE, LANE)
    loaded = fusions.load(path)
    assert loaded is not None and set(loaded.cases) == {"a", "b"}
    assert dict(loaded.cases["a"].counts) == {"mha": 4} and loaded.cases["a"].recorded.startswith("2025")
    text = path.read_text()
    assert path.name == f"{LANE}.fusions.json"
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert json.loads(text)["schema"] == "infergate-fusions"
    assert json.loads(text)["version"] == 2 and loaded.cases["b"].source == "recorded"


BAD = {
    # The message names the kind of file (a broken fusions file once read "baselines file ...").
    "empty": ("", "^fusion expectations file .* is empty"),
    "truncated": ('{"schema": "infergate-fusions", ', "^fusion expectations file .* not valid JSON"),
    "speedup-file": ('{"schema": "infergate-baselines", "version": 1}', "expected 'infergate-fusions'"),
    "future": ('{"schema": "infergate-fusions", "version": 3}',
               "has version 3; this infergate reads versions 1, 2"),
}


@pytest.mark.parametrize("name", BAD)
def test_bad_files_are_refused_and_never_overwritten(path: Path, name: str) -> None:
    text, message = BAD[name]
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(DataFileError, match=message):
        fusions.load(path)
    with pytest.raises(DataFileError, match=message):
        fusions.update(path, {"a": {"mha": 1}}, MACHINE, LANE)
    assert path.read_text() == text


@pytest.mark.parametrize("counts, message", [({"mha": -1}, "must be an integer >= 0"),
                                             ({"mha": True}, "must be an integer >= 0"),
                                             ({"mha": 1.5}, "must be an integer >= 0")])
def test_bad_counts_are_refused(path: Path, counts: dict, message: str) -> None:
    fusions.update(path, {"a": {"mha": 1}}, MACHINE, LANE)
    data = json.loads(path.read_text())
    data["cases"]["a"]["counts"] = counts
    path.write_text(json.dumps(data))
    with pytest.raises(DataFileError, match=f"case 'a' counts\\['mha'\\] {message}"):
        fusions.load(path)


def test_another_machine_class_is_not_mixed_in(path: Path) -> None:
    fusions.update(path, {"a": {"mha": 1}}, MACHINE, LANE)
    with pytest.raises(DataFileError, match="refusing to mix"):
        fusions.update(path, {"a": {"mha": 1}}, "other__avx512__8c16t", LANE)


# -- reporting -------------------------------------------------------------------------------


def _row(attn: str, mha: int) -> fusions.Row:
    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["small"], attn)
    return fusions.Row(Case(spec, "jit_ipex", DType.FP32), {"mha": mha, "ipex::matmul_outtrans": mha}, "ok")


def test_table_shows_the_attention_axis_and_sdpa_cost() -> None:
    rows = [_row("sdpa", 0), _row("eager", 4)]
    header, cells = fusions.table(rows)
    assert header[:5] == ["model", "attention", "variant", "dtype", "Multi-head attention"]
    assert [c[:5] for c in cells] == [["bert-qa-small", "eager", "jit_ipex", "fp32", "4"],
                                      ["bert-qa-small", "sdpa", "jit_ipex", "fp32", "0"]]
    assert cells[0][-2] == "ipex::matmul_outtrans×4"
    assert fusions.sdpa_cost(rows) == [
        "bert-qa-small jit_ipex/fp32: Multi-head attention fusions 4 with eager attention, 0 with SDPA"
    ]
    assert fusions.render_markdown(header, cells)[1].count("---") == len(header)


def test_markdown_sections_are_replaced_per_lane() -> None:
    doc = fusions.replace_section("# Fusion coverage\n\nintro\n", "a", "table A1")
    doc = fusions.replace_section(doc, "b", "table B")
    doc = fusions.replace_section(doc, "a", "table A2")
    assert doc.startswith("# Fusion coverage\n\nintro\n") and "table A1" not in doc
    assert doc.index("table A2") < doc.index("table B") and doc.count("fusions:a begin") == 1


# -- the check can fail ----------------------------------------------------------------------


@pytest.mark.ipex
def test_disabling_ipex_fusion_is_caught_naming_the_patterns() -> None:
    """The same case with IPEX's TorchScript fusion passes off must read as lost MHA and Add+LayerNorm."""
    problem = probe().ipex_problem
    if problem:
        pytest.skip(problem)
    from infergate.building.graphs import last_executed_kinds
    from infergate.building.harness import example_inputs
    from infergate.building.variants import JitIpex
    from infergate.core.errors import ProofError
    from infergate.matrix.models import build_model

    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    model, inputs = build_model(spec), example_inputs(spec)
    calls = fusion_patterns.count_linear_calls(model, inputs)
    expected = signals(JitIpex().build(model, inputs, DType.FP32).kinds, calls)
    # The variant's own proof refuses the graph: with the passes off it holds only ipex.optimize's
    # torch_ipex:: linears. It warmed the graph up before proving, so the last executed graph is
    # the one without fusions.
    with pytest.raises(ProofError, match="no IPEX node kind of its TorchScript passes"):
        JitIpex(fusion=False).build(model, inputs, DType.FP32)
    off_kinds = last_executed_kinds()
    case_id = Case(spec, "jit_ipex", DType.FP32).id
    verdict = compare(case_id, expected, signals(off_kinds, calls))
    lost = {c.signal: c for c in verdict.lost}
    assert verdict.failed and {"mha", "add_layernorm"} <= lost.keys()
    assert lost["mha"].before == spec.size.layers and lost["mha"].after == 0
    message = verdict.message()
    assert message.startswith(case_id) and f"Multi-head attention {spec.size.layers} -> 0" in message
    assert "Add+LayerNorm" in message


def test_a_case_without_an_expectation_is_skipped_with_why_or_fails_when_one_is_required(tmp_path: Path) -> None:
    from infergate.pytest_plugin.fusion_plugin import FusionSession

    case = Case(ModelSpec(ARCHS["bert"], Task.QA, SIZES["small"], "eager"), "jit", DType.FP32)
    counts = {"Multi-head attention": 0, "aten::linear": 25}
    lenient = FusionSession(tmp_path / "none.fusions.json", "cls", "lane", update=False)
    assert lenient.check(case, counts) is None
    why = lenient.unchecked(case)
    assert why is not None and why.startswith("no fusion expectation for this case in ")
    assert "nothing was compared" in why and lenient.rows[-1].counts == counts  # still in the table
    strict = FusionSession(tmp_path / "none.fusions.json", "cls", "lane", update=False, require=True)
    assert "--ig-require-baseline was given" in (strict.check(case, counts) or "")
    recording = FusionSession(tmp_path / "none.fusions.json", "cls", "lane", update=True)
    assert recording.check(case, counts) is None and recording.unchecked(case) is None


def test_fusion_counts_come_back_from_a_worker_and_so_does_a_skip() -> None:
    """Fusion cases isolate as matrix cases do (IPEX builds in a worker by default); the counts, or
    the build-time skip with its reason, come back to the process that keeps the table."""
    from infergate.measuring.isolation import run_in_worker
    from infergate.pytest_plugin.fusion_plugin import counts_of

    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    counts = run_in_worker(counts_of, Case(spec, "jit", DType.FP32), timeout=300)
    assert counts == counts_of(Case(spec, "jit", DType.FP32))  # the same graph in either process
    assert counts["mha"] == 0 and sum(counts.values()) > 0  # plain jit: no IPEX pattern, its own fused kinds
    # A case found unavailable at build time skips inside the worker; the skip, with its reason,
    # must reach this process (where the fusion test records it in the table), not become a crash.
    from infergate.core.errors import WorkerOutcome
    from infergate.pytest_plugin.isolation_plugin import raise_as_pytest

    with pytest.raises(WorkerOutcome) as brought:
        run_in_worker(_skips_in_the_worker, timeout=60)
    with pytest.raises(pytest.skip.Exception, match="unavailable at build time: a test reason"):
        raise_as_pytest(brought.value)


def _skips_in_the_worker() -> None:
    pytest.skip("unavailable at build time: a test reason")
