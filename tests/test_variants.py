"""The foundation: matrix ids, seeded models and inputs, capability rules, and that every variant's
proof can fail (a 'jit' or 'compile' that is really eager is rejected, never passed off)."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from infergate.building.capabilities import bf16_prepack_problem, ipex_pairing_problem, isa_level
from infergate.building.cases import PROFILES, Case, correctness_cases
from infergate.building.harness import example_inputs, skip_reason
from infergate.building.inductor import CompiledGraph, prove_compiled, prove_options
from infergate.building.variants import (
    Compile,
    CompileAutotune,
    CompileCpp,
    Eager,
    Jit,
    _trace_and_freeze,
    get_variant,
    prove_frozen_script,
    prove_ipex_fused,
)
from infergate.core.errors import BuildError, ProofError, UsageError
from infergate.matrix.dtypes import DType
from infergate.matrix.models import attention_problem, build_config, build_model, library_init_skipped
from infergate.matrix.spec import ModelSpec, seeded_init_
from infergate.matrix.zoo import ARCHS, SIZES, Task

AVX2_FLAGS = frozenset({"sse4_2", "avx", "avx2", "fma"})


@pytest.fixture(scope="module")
def tiny_bert() -> tuple[ModelSpec, torch.nn.Module]:
    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    return spec, build_model(spec)


def test_case_ids_are_readable_stable_and_unique() -> None:
    spec = ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager")
    assert Case(spec, "jit_ipex", DType.FP32).id == "bert-qa-tiny-eager_attn-jit_ipex-fp32"
    ids = [c.id for c in correctness_cases(PROFILES["default"])]
    assert len(ids) == len(set(ids))
    assert {"deberta-v2-tokcls-tiny-eager_attn-jit-bf16", "minilm-l6-qa-real-sdpa_attn-jit-fp32"} <= set(ids)


def test_declared_attentions_cover_what_transformers_supports() -> None:
    for arch in ARCHS.values():
        for task in Task:
            spec = ModelSpec(arch, task, SIZES["tiny"], "sdpa")
            supported = attention_problem(spec) is None
            if supported:
                assert "sdpa" in arch.attentions, f"{arch.name} has SDPA here: declare it in the zoo"
            elif "sdpa" in arch.attentions:
                # Declared for a newer lane: the case must skip here with the precise reason.
                assert "has no SDPA attention in transformers" in skip_reason(Case(spec, "eager", DType.FP32))


def test_seeded_weights_and_inputs_are_reproducible(tiny_bert) -> None:
    spec, model = tiny_bert
    again = build_model(spec)
    for (name, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert a.equal(b), name
    x, y = example_inputs(spec), example_inputs(spec)
    assert all(x[k].equal(y[k]) for k in x)
    lengths = x["attention_mask"].sum(1)
    assert int(lengths.max()) == x["input_ids"].shape[1] and int(lengths.min()) < int(lengths.max()), (
        "example batches must carry padding and variable lengths"
    )


@pytest.mark.parametrize("task", list(Task), ids=lambda t: t.value)
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_skipping_the_library_init_changes_no_weight(arch: str, task: Task) -> None:
    """build_model skips transformers' weight init because seeded_init_ overwrites every parameter;
    a parameter it missed would keep uninitialised memory here, and a buffer the library's init set
    would differ. Compared with the library's init run first, tied weights and all."""
    import contextlib

    import transformers

    assert not isinstance(library_init_skipped(), contextlib.nullcontext), (
        f"transformers {transformers.__version__} has no no_init_weights where build_model looks"
    )
    spec = ModelSpec(ARCHS[arch], task, SIZES["tiny"], "eager")
    auto = getattr(transformers, task.auto_class)
    reference = auto.from_config(build_config(spec), attn_implementation="eager")
    seeded_init_(reference, spec.seed)
    built = build_model(spec)

    def tensors(m: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {**dict(m.named_parameters(remove_duplicate=False)),
                **{f"buffer {k}": v for k, v in m.named_buffers(remove_duplicate=False)}}

    def tied(m: torch.nn.Module) -> set[str]:
        return {k for k, _ in m.named_parameters(remove_duplicate=False)} - {k for k, _ in m.named_parameters()}

    want, got = tensors(reference), tensors(built)
    assert want.keys() == got.keys()
    assert [k for k in want if not want[k].equal(got[k])] == []
    assert tied(reference) == tied(built)


def test_unknown_names_list_the_valid_ones() -> None:
    with pytest.raises(UsageError, match="valid: eager, jit, jit_ipex, compile"):
        get_variant("onnx")


def test_capability_rules_give_precise_reasons() -> None:
    assert bf16_prepack_problem(AVX2_FLAGS) == (
        "IPEX BF16 prepack needs avx512bw/vl/dq or avx_ne_convert; this CPU has AVX2"
    )
    assert bf16_prepack_problem(AVX2_FLAGS | {"avx512bw", "avx512vl", "avx512dq"}) is None
    assert bf16_prepack_problem(AVX2_FLAGS | {"avx_ne_convert"}) is None
    assert isa_level(AVX2_FLAGS) == "AVX2"
    assert ipex_pairing_problem("2.8.0", "2.8.0") is None
    assert ipex_pairing_problem("2.13.0", "2.8.0") == ("IPEX 2.8.0 needs torch 2.8.*, this lane has torch 2.13.0 "
                                                       "(IPEX's import refuses that pairing)")
    assert "IPEX is not installed" in ipex_pairing_problem("2.13.0", None)


def test_frozen_proof_rejects_eager_and_unfrozen(tiny_bert) -> None:
    spec, model = tiny_bert
    with pytest.raises(ProofError, match="expected a TorchScript module"):
        prove_frozen_script(model)
    with torch.no_grad():
        traced = torch.jit.trace(model, example_kwarg_inputs=dict(example_inputs(spec)), strict=False)
    with pytest.raises(ProofError, match="not frozen"):
        prove_frozen_script(traced)
    assert "frozen" in prove_frozen_script(_trace_and_freeze(model, example_inputs(spec), DType.FP32))


def test_a_jit_variant_that_returns_eager_is_rejected(tiny_bert, monkeypatch) -> None:
    spec, model = tiny_bert
    monkeypatch.setattr("infergate.building.variants._trace_and_freeze", lambda m, example, dtype: m)
    with pytest.raises(ProofError, match="expected a TorchScript module"):
        Jit().build(model, example_inputs(spec), DType.FP32)


def test_ipex_proof_rejects_a_graph_without_ipex_kinds(tiny_bert) -> None:
    spec, model = tiny_bert
    plain = Jit().build(model, example_inputs(spec), DType.FP32)
    assert plain.kinds, "the executed graph must have been read"
    with pytest.raises(ProofError, match="no IPEX node kind"):
        prove_ipex_fused(plain.kinds)
    assert "ipex::add_layernorm" in prove_ipex_fused(Counter({"ipex::add_layernorm": 2}))


def test_ipex_proof_needs_a_kind_of_ipexs_graph_passes_not_its_module_swap() -> None:
    """ipex.optimize alone puts torch_ipex::ipex_MKLSGEMM in every graph (its linear modules trace to
    it) even with IPEX's TorchScript passes off: that kind proves no fusion."""
    swapped_only = Counter({"torch_ipex::ipex_MKLSGEMM": 25, "aten::matmul": 8, "aten::softmax": 4})
    with pytest.raises(ProofError, match=r"no IPEX node kind.*only torch_ipex::ipex_MKLSGEMM"):
        prove_ipex_fused(swapped_only)
    prepacked = prove_ipex_fused(swapped_only + Counter({"ipex_prepack::mkl_sgemm_run": 17}))
    assert prepacked.endswith("ipex_prepack::mkl_sgemm_run")


def test_a_compile_variant_that_never_compiles_is_rejected(tiny_bert, monkeypatch) -> None:
    spec, model = tiny_bert
    # torch.compile replaced by identity: the model runs eagerly and the recorder sees no graph.
    monkeypatch.setattr(torch, "compile", lambda m, backend=None, fullgraph=False: m)
    with pytest.raises(ProofError, match="no compiled graph"):
        Compile().build(model, example_inputs(spec), DType.FP32)
    with pytest.raises(ProofError):
        prove_compiled([], model_inputs=3, parameters=71)


@pytest.mark.slow  # builds compile
def test_compile_freezes_and_an_unfrozen_compile_fails_its_proof(tiny_bert, monkeypatch) -> None:
    import torch._inductor.config as inductor_config

    spec, model = tiny_bert
    built = Compile().build(model, example_inputs(spec), DType.FP32)
    assert "frozen" in built.proof  # prove_compiled: every graph frozen, its inputs the model's only
    # The old recipe: freezing patched inside the backend only, after dynamo had lifted the
    # parameters as graph inputs. It compiled, it ran, and it was not frozen.
    monkeypatch.setattr("infergate.building.inductor.freeze_compiled_graphs", lambda: None)
    # Unfrozen graphs go through AOTAutograd's cache (frozen ones bypass it): an earlier test's
    # identical graph would be served from it without reaching inductor's inner compiler at all.
    # torch's configs are patched with their own patch(): monkeypatch's undo of a config module
    # leaves the option undefined for every later compile in the process.
    import torch._functorch.config as functorch_config

    torch._dynamo.reset()
    with inductor_config.patch(freezing=False, fx_graph_cache=False), \
            functorch_config.patch(enable_autograd_cache=False), \
            pytest.raises(ProofError, match="compiled graph 0 is not frozen: it takes [0-9]+ tensor inputs"):
        Compile().build(model, example_inputs(spec), DType.FP32)


def test_compile_options_are_proven_in_every_graph_not_assumed() -> None:
    cpp = CompiledGraph(3, True, cpp_wrapper=True, max_autotune=True, templated_kernels=2, autotuned=17,
                        benchmarked=6)
    plain = CompiledGraph(3, True)
    assert "C++ wrapper" in prove_options([cpp], CompileCpp.options)
    assert ("max-autotune (17 kernel choice(s) by timing: 6 timed in this process, 11 from timings in inductor's "
            "autotune cache; 2 C++ GEMM template kernel(s) chosen)") in prove_options([cpp], CompileAutotune.options)
    # In effect, and nothing to choose: the name would promise timed kernels the build does not have.
    with pytest.raises(ProofError, match="no kernel choice went through its timing .nothing to choose"):
        prove_options([CompiledGraph(3, True, cpp_wrapper=True, max_autotune=True)], CompileAutotune.options)
    with pytest.raises(ProofError, match="TORCHINDUCTOR_FX_GRAPH_CACHE=1 overrides"):
        prove_options([CompiledGraph(3, True, cpp_wrapper=True, max_autotune=True, graph_cache=True)],
                      CompileAutotune.options)
    assert prove_options([plain], Compile.options) == ""
    with pytest.raises(ProofError, match="cpp_wrapper was asked for, but inductor generated a Python wrapper"):
        prove_options([cpp, plain], CompileCpp.options)
    with pytest.raises(ProofError, match="max_autotune was asked for"):
        prove_options([CompiledGraph(3, True, cpp_wrapper=True)], CompileAutotune.options)


@pytest.mark.slow  # builds compile
def test_a_compile_option_that_does_not_apply_fails_the_build(tiny_bert, monkeypatch) -> None:
    from infergate.building import inductor

    spec, model = tiny_bert
    real_init = inductor.RecordingInductor.__init__
    # The backend loses the options on the way (as a patch in the wrong place would): it compiles,
    # it runs, and the C++ wrapper the variant's name promises is not there.
    monkeypatch.setattr(inductor.RecordingInductor, "__init__", lambda self, options=None: real_init(self))
    torch._dynamo.reset()
    with pytest.raises(ProofError, match="cpp_wrapper was asked for"):
        CompileCpp().build(model, example_inputs(spec), DType.FP32)


@pytest.mark.slow  # max-autotune times GEMM candidates: about a minute on 2 cores
def test_compile_autotune_proves_that_kernels_were_chosen_by_timing(tiny_bert, tmp_path) -> None:
    import re

    from infergate.building.capabilities import probe

    why = CompileAutotune().unavailable(DType.FP32, probe())
    if why:
        pytest.skip(why)
    from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

    spec, model = tiny_bert
    torch._dynamo.reset()
    # A cache of its own: what it times is then this build's, whatever other tests or runs left on disk.
    with temporary_cache_dir(str(tmp_path / "inductor")):
        proof = CompileAutotune().build(model, example_inputs(spec), DType.FP32).proof
    said = re.search(r"max-autotune \((\d+) kernel choice\(s\) by timing: (\d+) timed in this process", proof)
    assert said and int(said[1]) >= int(said[2]) > 0, proof


def test_a_max_autotune_build_never_takes_a_lowered_graph_from_the_fx_graph_cache() -> None:
    # A graph served from that cache is not lowered again, so its autotuned choices go uncounted and
    # the proof failed a build that had them (a BF16 graph on a CPU without oneDNN BF16 is cached).
    from infergate.building.inductor import inductor_options

    assert inductor_options(CompileAutotune.options) == {"cpp_wrapper": True, "max_autotune": True,
                                                         "fx_graph_cache": False}
    assert inductor_options(CompileCpp.options) == {"cpp_wrapper": True}


def test_max_autotune_skips_on_torch_2_8_with_the_measured_reason() -> None:
    from dataclasses import replace

    from infergate.building.capabilities import probe

    caps = probe()
    old, new = replace(caps, torch_version="2.8.0"), replace(caps, torch_version="2.13.0")
    assert "max-autotune needs torch >= 2.9: torch 2.8.0's inductor" in CompileAutotune().unavailable(DType.FP32, old)
    assert CompileAutotune().unavailable(DType.FP32, new) is None


def test_compile_options_are_named_where_they_run_not_added_to_every_selection() -> None:
    from infergate.building.cases import perf_cases

    assert not {c.variant for c in perf_cases(PROFILES["default"])} & {"compile_cpp", "compile_autotune"}
    options = [c.id for c in correctness_cases(PROFILES["default"]) if c.variant in ("compile_cpp", "compile_autotune")]
    assert options == ["bert-qa-tiny-sdpa_attn-compile_cpp-fp32", "bert-qa-tiny-sdpa_attn-compile_autotune-fp32"]


def test_a_graph_break_fails_the_compile_build_instead_of_running_part_eagerly(tiny_bert) -> None:
    spec, model = tiny_bert

    class Breaking(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, **inputs):
            out = self.inner(**inputs)
            torch._dynamo.graph_break()  # what an unsupported Python construct does inside a model
            return out

    # The graph break itself named, not any compile failure (dynamo's wording: "Call to
    # `torch._dynamo.graph_break()`").
    with pytest.raises(BuildError, match=r"(?s)compile/fp32 build failed: .*graph_break"):
        Compile().build(Breaking(), example_inputs(spec), DType.FP32)


def test_a_trace_error_is_the_case_failure_not_a_fallback(tiny_bert) -> None:
    spec, _ = tiny_bert

    class Broken(torch.nn.Module):
        def forward(self, input_ids, attention_mask, token_type_ids):
            raise RuntimeError("boom in forward")

    with pytest.raises(BuildError, match="jit/fp32 build failed: RuntimeError: boom in forward"):
        Jit().build(Broken(), example_inputs(spec), DType.FP32)


def test_perf_shapes_are_declared_per_profile_and_carried_in_ids() -> None:
    from infergate.building.cases import Selection, perf_cases
    from infergate.matrix.inputs import SERVING_SHAPE, TRACE_SHAPE

    for name in ("default", "nightly"):
        shapes = {c.shape for c in perf_cases(PROFILES[name])}
        assert any(s.seq_len >= 128 for s in shapes), f"{name} has no serving shape"
    default = {c.id: c for c in perf_cases(PROFILES["default"])}
    assert "bert-qa-small-sdpa_attn-b1s128-compile-fp32" in default  # the serving shape is in the id
    assert "bert-qa-small-eager_attn-jit_ipex-fp32" in default  # the trace shape is not: old keys hold
    assert default["bert-qa-small-sdpa_attn-b1s128-compile-fp32"].shape == SERVING_SHAPE
    assert {c.dtype for c in default.values() if c.shape == SERVING_SHAPE} == {DType.FP32, DType.BF16}
    with pytest.raises(UsageError, match="takes no shapes"):
        Selection(sizes=(), real_checkpoint=True, shapes=(SERVING_SHAPE,))
    assert Case(ModelSpec(ARCHS["bert"], Task.QA, SIZES["tiny"], "eager"), "jit", DType.FP32, TRACE_SHAPE).id \
        == "bert-qa-tiny-eager_attn-jit-fp32"


def test_bf16_is_timed_only_where_the_cpu_computes_bf16_natively(monkeypatch) -> None:
    from infergate.building import capabilities, harness
    from infergate.building.capabilities import bf16_perf_problem

    avx2 = frozenset({"avx", "avx2", "fma"})
    reason = bf16_perf_problem(avx2)
    assert reason and "native BF16 arithmetic (amx_bf16 or avx512_bf16)" in reason and "AVX2" in reason
    assert bf16_perf_problem(avx2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "amx_bf16", "amx_tile"}) is None
    case = Case(ModelSpec(ARCHS["bert"], Task.QA, SIZES["small"], "sdpa"), "compile", DType.BF16)
    caps = capabilities.probe()
    monkeypatch.setattr(harness, "probe", lambda: capabilities.Capabilities(
        caps.cpu_model, avx2, caps.torch_version, caps.ipex_version, caps.transformers_version, "AVX2"))
    assert harness.perf_skip_reason(case) == reason
    assert harness.skip_reason(case) is None  # correctness still checks BF16 answers there


def test_a_torch_without_dynamos_fail_flags_is_refused_not_trusted() -> None:
    from types import SimpleNamespace

    from infergate.building import inductor

    old_torch = SimpleNamespace(recompile_limit=8, cache_size_limit=8)
    with pytest.raises(BuildError, match="neither fail_on_recompile_limit_hit nor fail_on_cache_limit_hit"):
        inductor.refuse_silent_recompile_fallback(old_torch)
    assert old_torch.recompile_limit == 1024  # finite and raised, so hitting it is loud
    recent = SimpleNamespace(fail_on_recompile_limit_hit=False)
    inductor.refuse_silent_recompile_fallback(recent)
    assert recent.fail_on_recompile_limit_hit is True


def test_jit_fails_its_proof_when_ipex_kinds_reach_its_graph(tiny_bert, monkeypatch) -> None:
    from collections import Counter

    spec, model = tiny_bert
    assert "no IPEX kinds in the executed graph" in Jit().build(model, example_inputs(spec), DType.FP32).proof
    # As if IPEX's passes had run on the plain TorchScript variant: jit_ipex/jit would compare IPEX with itself.
    monkeypatch.setattr("infergate.building.variants.last_executed_kinds",
                        lambda: Counter({"aten::linear": 3, "ipex::add_layernorm": 2}))
    with pytest.raises(ProofError, match=r"jit/fp32: the executed graph holds IPEX kinds \(ipex::add_layernorm\)"):
        Jit().build(model, example_inputs(spec), DType.FP32)


def test_a_bf16_build_whose_autocast_does_not_apply_fails_its_proof(tiny_bert, monkeypatch) -> None:
    # It would still run (in FP32) and still meet the BF16 tolerances: only the outputs' dtype tells.
    import contextlib

    spec, model = tiny_bert
    assert "outputs bfloat16" in Eager().build(model, example_inputs(spec), DType.BF16).proof
    assert "outputs float32" in Jit().build(model, example_inputs(spec), DType.FP32).proof
    monkeypatch.setattr(DType, "autocast", lambda self: contextlib.nullcontext())
    with pytest.raises(ProofError, match="eager/bf16: the outputs are float32, not bfloat16: bf16 did not apply"):
        Eager().build(model, example_inputs(spec), DType.BF16)


_MISMATCHED_IMPORT = """
import sys
import torch
torch.__version__ = "2.13.0"  # the running torch disagrees with its package metadata (2.8.x here)
from infergate.building.capabilities import import_ipex
from infergate.core.errors import BuildError
try:
    import_ipex()
except BuildError as exc:
    print("BuildError:", exc)
print("imported:", "intel_extension_for_pytorch" in sys.modules)
try:
    import intel_extension_for_pytorch  # IPEX's own guard, unchecked: what it really does
except BaseException as exc:
    print("IPEX itself:", type(exc).__name__, exc)
"""


@pytest.mark.ipex
def test_a_running_torch_ipex_refuses_is_refused_before_importing_ipex() -> None:
    """IPEX compares the running torch.__version__, not the package metadata the probe reads. Its guard
    then calls os.exit(127), which does not exist: an AttributeError, not an exit."""
    import subprocess
    import sys
    from pathlib import Path

    from infergate.building.capabilities import probe

    problem = probe().ipex_problem
    if problem:
        pytest.skip(problem)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", _MISMATCHED_IMPORT], cwd=root, capture_output=True, text=True,
                          timeout=300)
    lines = proc.stdout.splitlines()
    ours = next(line for line in lines if line.startswith("BuildError:"))
    assert f"IPEX {probe().ipex_version} needs torch 2.8.*" in ours and "reports 2.13.0" in ours, proc.stdout
    assert f"its package metadata: {probe().torch_version}" in ours
    assert "imported: False" in lines, proc.stdout + proc.stderr
    assert "IPEX itself: AttributeError module 'os' has no attribute 'exit'" in lines, proc.stdout + proc.stderr


def test_an_ipex_import_that_raises_is_one_build_error_naming_the_versions(tmp_path, monkeypatch) -> None:
    """IPEX 2.8's guard, as written in its __init__.py, stands in for any import failure."""
    import sys

    from infergate.building import capabilities

    fake = tmp_path / "intel_extension_for_pytorch"
    fake.mkdir()
    (fake / "__init__.py").write_text("import os\nos.exit(127)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "intel_extension_for_pytorch", raising=False)  # restored after
    caps = capabilities.probe()
    running = torch.__version__
    monkeypatch.setattr(capabilities, "probe", lambda: capabilities.Capabilities(
        caps.cpu_model, caps.cpu_flags, running, running.split("+")[0], caps.transformers_version, "AVX2"))
    with pytest.raises(BuildError) as err:
        capabilities.import_ipex()
    assert str(err.value) == (f"importing IPEX {running.split('+')[0]} with torch {running} failed: "
                              "AttributeError: module 'os' has no attribute 'exit'")
