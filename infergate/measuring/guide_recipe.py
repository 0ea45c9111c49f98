"""The seed guide's recipe run: the Trainer's ``--jit_mode_eval``, timed with the suite's ``jit`` and ``eager``."""

from __future__ import annotations

import dataclasses
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..building.variants import EAGER, JIT, REFERENCE
from ..matrix.dtypes import DType
from ..matrix.inputs import Shape
from ..matrix.spec import ModelSpec
from .sampling import ModelMeasurement, SamplingPlan
from .stats import Estimate

if TYPE_CHECKING:
    import torch

# The guide's flags, in its order; each is looked up on TrainingArguments at run time.
GUIDE_FLAGS = ("no_cuda", "jit_mode_eval", "use_ipex")
RECIPE_FLAG = "jit_mode_eval"  # without it there is no Trainer jit path to run
TRAINER = "trainer"  # the timed entry: the model the Trainer evaluated with
EVAL_BATCHES = 2  # the Trainer traces on the first batch and evaluates them all
IPEX_MODULE = "intel_extension_for_pytorch"
TRACED, FELL_BACK, NOT_RUN, FAILED = "traced", "fell back", "not run", "failed"
# How both of torch_jit_model_eval's fall-back warnings begin (no dataloader; a trace error).
TRAINER_JIT_WARNING = "failed to use PyTorch jit mode"

ModelFactory = Callable[[ModelSpec], "torch.nn.Module"]


def guide_flags() -> dict[str, bool]:
    """Which of the guide's flags are fields of this lane's ``TrainingArguments``."""
    from transformers import TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    return {flag: flag in fields for flag in GUIDE_FLAGS}


@dataclass
class RecipeRow:
    """One model: what the Trainer did with ``--jit_mode_eval`` and how fast each form ran."""

    model_id: str
    arch: str
    task: str
    shape: str
    flags: dict[str, bool]
    status: str = NOT_RUN  # traced / fell back / not run / failed
    reason: str = ""  # the Trainer's logged reason for a fall-back, or why it did not run
    evaluated_with: str = ""  # the type of the model the Trainer's prediction_step received
    script_module: bool = False
    parameters: int = -1  # parameter attributes left on it: 0 when frozen
    ipex_imported: bool = False  # IPEX in the process after the Trainer ran (accelerate imports it)
    ipex_kinds: list[str] = field(default_factory=list)  # IPEX node kinds in its executed graph
    trainer_logs: list[str] = field(default_factory=list)  # the Trainer's warnings during evaluate
    jit_compilation_s: float | None = None  # the Trainer's own eval_jit_compilation_time
    metrics: dict[str, float] = field(default_factory=dict)  # what Trainer.evaluate returned
    max_abs_vs_eager: float | None = None  # the Trainer's model against eager, on the timed inputs
    failed: dict[str, str] = field(default_factory=dict)  # the suite's variant -> build/proof error
    timing: ModelMeasurement | None = None
    wall_s: float = 0.0


def trainer_outcome(evaluated: Any, warnings: list[str]) -> tuple[str, str]:
    """(status, reason) from the model the Trainer evaluated with: traced only for a ScriptModule."""
    import torch

    if evaluated is None:
        return FAILED, "the Trainer evaluated no batch"
    if isinstance(evaluated, torch.jit.ScriptModule):
        return TRACED, ""
    jit_lines = [w for w in warnings if w.startswith(TRAINER_JIT_WARNING)]
    return FELL_BACK, (jit_lines[0] if jit_lines else f"no jit warning logged; evaluated a {type(evaluated).__name__}")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _dataset(inputs: dict[str, torch.Tensor], batches: int) -> list[dict[str, torch.Tensor]]:
    """The timed inputs, ``batches`` times, as one example per row (the Trainer batches them back)."""
    batch = next(iter(inputs.values())).shape[0]
    return [{k: v[i] for k, v in inputs.items()} for _ in range(batches) for i in range(batch)]


def run_trainer_eval(model: torch.nn.Module, inputs: dict[str, torch.Tensor], flags: dict[str, bool],
                     out_dir: str) -> tuple[Any, list[str], dict[str, float]]:
    """``Trainer.evaluate`` with this lane's guide flags: the model prediction_step received, warnings, metrics."""
    from transformers import HfArgumentParser, PrinterCallback, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    batch = next(iter(inputs.values())).shape[0]
    argv = ["--output_dir", out_dir, "--per_device_eval_batch_size", str(batch), "--report_to", "none",
            "--disable_tqdm", "true"] + [f"--{flag}" for flag, exists in flags.items() if exists]
    (args,) = HfArgumentParser(TrainingArguments).parse_args_into_dataclasses(args=argv)  # type: ignore[arg-type]
    seen: list[Any] = []

    class Recording(Trainer):
        def prediction_step(self, model, *a, **kw):
            seen.append(model)
            return super().prediction_step(model, *a, **kw)

    capture = _Capture()
    logger = hf_logging.get_logger("transformers.trainer")  # transformers' loggers do not propagate
    logger.addHandler(capture)
    try:
        trainer = Recording(model=model, args=args, eval_dataset=_dataset(dict(inputs), EVAL_BATCHES))
        trainer.remove_callback(PrinterCallback)  # it prints the metrics, which the row keeps
        metrics = trainer.evaluate()
    finally:
        logger.removeHandler(capture)
    return (seen[0] if seen else None), capture.lines, metrics


def _inspect_evaluated(row: RecipeRow, evaluated: Any, inputs: dict, reference: tuple) -> Callable:
    """What the Trainer evaluated with, recorded on ``row``; returns the call to time."""
    import torch

    from ..building.graphs import IPEX_KIND_PREFIXES, last_executed_kinds

    row.evaluated_with = f"{type(evaluated).__module__}.{type(evaluated).__qualname__}"
    row.script_module = isinstance(evaluated, torch.jit.ScriptModule)
    row.parameters = sum(1 for _ in evaluated.parameters())

    # As prediction_step calls it without labels; its loss context is a no-op in FP32.
    def trainer_call(batch, _m=evaluated):
        with torch.no_grad():
            return _m(**batch)

    outputs = trainer_call(inputs)
    outputs = tuple(outputs.values()) if isinstance(outputs, dict) else tuple(outputs)
    row.max_abs_vs_eager = max(float((a.float() - b.float()).abs().max())
                               for a, b in zip(reference, outputs, strict=True))
    if row.script_module:
        row.ipex_kinds = sorted(k for k in last_executed_kinds() if k.startswith(IPEX_KIND_PREFIXES))
    return trainer_call


def measure_recipe(spec: ModelSpec, shape: Shape, plan: SamplingPlan,
                   factory: ModelFactory | None = None) -> RecipeRow:
    """The Trainer's jit evaluation of ``spec``, then the suite's ``jit`` and ``eager``, timed together."""
    import torch

    from ..building.harness import example_inputs
    from ..building.variants import get_variant
    from ..core.errors import BuildError, ProofError
    from ..matrix.models import build_model
    from .load import read_load
    from .sampling import pin_threads, sample_rounds

    start = time.perf_counter()
    flags = guide_flags()
    row = RecipeRow(spec.id, spec.arch.name, spec.task.value, str(shape), flags)
    if not flags[RECIPE_FLAG]:
        row.reason = f"TrainingArguments has no {RECIPE_FLAG} in this lane"
        return row
    threads = pin_threads(plan.threads)
    model = (factory or build_model)(spec)
    inputs = dict(example_inputs(spec, shape))
    with torch.no_grad():
        reference = tuple(model(**inputs))
    with tempfile.TemporaryDirectory(prefix="infergate-trainer-") as out_dir:
        evaluated, row.trainer_logs, metrics = run_trainer_eval(model, inputs, flags, out_dir)
    row.status, row.reason = trainer_outcome(evaluated, row.trainer_logs)
    row.ipex_imported = IPEX_MODULE in sys.modules
    row.metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    row.jit_compilation_s = row.metrics.get("eval_jit_compilation_time")
    calls: dict[str, Callable] = {}
    if evaluated is not None:
        calls[TRAINER] = _inspect_evaluated(row, evaluated, inputs, reference)
    for name in (EAGER, JIT):
        try:
            calls[name] = get_variant(name).build(model, inputs, DType.FP32).call
        except (BuildError, ProofError) as exc:
            row.failed[name] = f"{type(exc).__name__}: {exc}"
    if calls:
        timing = ModelMeasurement(f"{spec.id}-{shape}", DType.FP32.value, list(calls), {n: [] for n in calls},
                                  threads=threads, schedule=plan.schedule, seed=plan.seed, load_start=read_load())
        sample_rounds(calls, inputs, plan, timing)
        timing.load_end = read_load()
        row.timing = timing
    row.wall_s = time.perf_counter() - start
    return row


# (label, faster, slower): speedups drawn from the same rounds.
COMPARISONS: tuple[tuple[str, str, str], ...] = (
    ("trainer_vs_eager", TRAINER, REFERENCE),
    ("jit_vs_eager", JIT, REFERENCE),
    ("trainer_vs_jit", TRAINER, JIT),
)


def speedup(row: RecipeRow, faster: str, slower: str) -> Estimate | None:
    """How many times faster ``faster`` ran than ``slower`` in the same rounds; None when either was not timed."""
    t = row.timing
    if t is None or faster not in t.times_ns or slower not in t.times_ns:
        return None
    return t.samples([faster, slower]).speedup_estimate(faster, reference=slower)
