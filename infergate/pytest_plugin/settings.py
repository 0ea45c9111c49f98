"""Every infergate option, declared once as data (``OPTIONS``), and the frozen ``Settings`` built from
them; nothing but ``Settings`` calls ``getoption`` for an infergate flag."""

from __future__ import annotations

import argparse
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..building.cases import PROFILES, Profile, get_profile
from ..building.inject import injection_type
from ..core import exit_codes
from ..core.defaults import (
    DEFAULT_BUDGET_S,
    DEFAULT_CONFIRM_BUDGET_S,
    DEFAULT_CONFIRM_RUNS,
    DEFAULT_FAMILY_ALPHA,
    DEFAULT_FLOOR,
    DEFAULT_REPEAT,
    DEFAULT_THREADS,
    RECORD_RUNS,
)
from ..core.errors import UsageError
from ..core.validate import (
    alpha_type,
    directory,
    fraction_type,
    results_output_file,
    seconds_up_to,
    whole_number,
)

if TYPE_CHECKING:
    import pytest

GROUP = "infergate"
GROUP_DESCRIPTION = "infergate: CPU inference regression suite"

PROFILE = "--ig-profile"
CHECKPOINT = "--ig-checkpoint"
CONFIG = "--ig-config"
BASELINES_DIR = "--ig-baselines"
UPDATE_BASELINES = "--ig-update-baselines"
REPLACE_BASELINES = "--ig-replace-baselines"
RECORD_DISTURBED = "--ig-record-disturbed"
RESULTS_JSON = "--ig-json"
SHARD = "--ig-shard"
FLOOR = "--ig-floor"
ALPHA = "--ig-alpha"
BUDGET = "--ig-budget"
REPEAT = "--ig-repeat"
THREADS = "--ig-threads"
CONFIRM_RUNS = "--ig-confirm-runs"
CONFIRM_BUDGET = "--ig-confirm-budget"
REQUIRE_BASELINE = "--ig-require-baseline"
ON_INCONCLUSIVE = "--ig-inconclusive"
ON_UNVERIFIED = "--ig-unverified"
INJECT = "--ig-inject-slowdown"
ISOLATE = "--ig-isolate"
TIMEOUT = "--ig-timeout"
FUSIONS_MD = "--ig-fusions-md"
SUITE = "--ig-suite"
SUITE_CHOICES = ("auto", "all", "perf", "correctness", "none")

MAX_RUNS = 20
# pytest's status for a UsageError raised while the session starts (what a missing baselines file
# under --ig-require-baseline is: nothing could be gated, so nothing is measured).
EXIT_USAGE_ERROR = exit_codes.PYTEST_USAGE
EXIT_INCONCLUSIVE, EXIT_UNVERIFIED, EXIT_NOTHING_JUDGED = exit_codes.INCONCLUSIVE, exit_codes.UNVERIFIED, \
    exit_codes.NOTHING_JUDGED
# Per-variant timeouts are the variants' own (Variant.timeout_s); --ig-timeout overrides them all.
TIMEOUT_SECONDS = seconds_up_to(24 * 3600.0)


class Mode(enum.Enum):
    """Which cases run in a worker process (--ig-isolate)."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def _mode(value: str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown isolation mode {value!r}; valid: {', '.join(m.value for m in Mode)}"
        ) from None


def _profile(value: str) -> Profile:
    try:
        return get_profile(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _shard(value: str) -> tuple[int, int]:
    from ..building.shards import parse_shard

    return parse_shard(value)


def _markdown_path(value: str) -> Path:
    path = Path(value)
    if path.is_dir() or path.suffix != ".md":
        raise argparse.ArgumentTypeError(f"{value} must name a .md file")
    return path


def _timeout_help() -> str:
    from ..building.variants import VARIANTS
    from ..measuring.perf_measurer import MEASURE_TIMEOUT_S

    own = ", ".join(f"{n} {v.timeout_s:g}" for n, v in VARIANTS.items())
    return ("timeout, a hard kill in a worker, best effort (SIGALRM) in-process: per correctness case, and "
            "per perf run of a whole model (every variant built and timed). Default: a correctness case's "
            f"variant's own ({own}); perf {MEASURE_TIMEOUT_S:g}")


def _checkpoint_help() -> str:
    # The packaged MiniLM-L6 is a selection of the profile (real_checkpoint in builtin_preset.toml),
    # not this option's default: named from the preset so the text follows it.
    with_it = [p.name for p in PROFILES.values() if any(s.real_checkpoint for s in (*p.correctness, *p.perf))]
    without = [name for name in PROFILES if name not in with_it]
    return ("add a real checkpoint (a local directory, or a hub id already in the offline HF cache) "
            "to the correctness and perf runs, every task, heads seeded; repeatable (--ig-config chooses "
            "tasks, shapes and attention). Default: none; the profile decides whether the packaged MiniLM-L6 "
            f"runs (with it: {', '.join(with_it) or 'none'}; without: {', '.join(without) or 'none'}), and the "
            "plugin's own suite in your project runs none of the profile's models")


@dataclass(frozen=True)
class Option:
    """One flag: its spelling, the ``Settings`` field it fills, and argparse's keyword arguments."""

    flag: str
    setting: str
    help: str | Callable[[], str]  # a callable when the text is read from the registry when asked
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def help_text(self) -> str:
        return self.help() if callable(self.help) else self.help

    def add_to(self, add: Callable[..., Any], *aliases: str, default_help: str | None = None) -> None:
        """Declare the option with ``add`` (``group.addoption`` or ``parser.add_argument``). ``default_help``
        replaces the text after "Default:" where a command resolves the default differently."""
        text = self.help_text()
        if default_help is not None:
            text = text.split("Default:")[0] + f"Default: {default_help}"
        add(*aliases, self.flag, dest=self.dest, help=text, **self.kwargs)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


_BUDGET = DEFAULT_BUDGET_S
OPTIONS: tuple[Option, ...] = (
    Option(PROFILE, "profile", f"which slice of the matrix to run ({', '.join(PROFILES)}). Default: default",
           {"metavar": "NAME", "type": _profile, "default": get_profile("default")}),
    Option(BASELINES_DIR, "baselines_dir",
           "where baseline files live (one per machine class x lane). Default: the config's "
           "[tool.infergate] baselines (relative to its file), else baselines/ in the rootdir, wherever "
           "pytest is started from",
           {"metavar": "DIR", "type": directory, "default": None}),
    Option(UPDATE_BASELINES, "update_baselines",
           "record this run's speedups and fusions into the baselines (merged, atomic). Default: off",
           {"action": "store_true", "default": False}),
    Option(REPLACE_BASELINES, "replace_baselines",
           "with --ig-update-baselines: the recorded cases keep only this session's runs (accepting an "
           "intended change) instead of appending a session. Default: off",
           {"action": "store_true", "default": False}),
    Option(RECORD_DISTURBED, "record_disturbed",
           "with --ig-update-baselines: also record runs measured while the machine was busy, or whose "
           "own interval is over-wide (the runs the gate leaves out; for tests on a loaded machine: such "
           "runs widen the spread the gate learns). Default: off, they are left out and a case with no "
           "other run is not recorded",
           {"action": "store_true", "default": False}),
    Option(RESULTS_JSON, "results_json",
           "also write this run's results (pytest-benchmark JSON form) to PATH. Default: none",
           {"metavar": "PATH", "type": results_output_file, "default": None}),
    Option(SHARD, "shard",
           "run only shard I of N of the profile's models (python -m infergate shards plans them: "
           "by model, balanced by estimated cost, the same plan in every job). Default: all",
           {"metavar": "I/N", "type": _shard, "default": None}),
    Option(CONFIG, "config",
           "your models, as a [tool.infergate] table in this TOML file (README: Your models). Default: "
           "the rootdir's pyproject.toml, when it has that table",
           {"metavar": "FILE.toml", "type": Path, "default": None}),
    Option(CHECKPOINT, "checkpoints", _checkpoint_help,
           {"metavar": "DIR_OR_HUB_ID", "action": "append", "default": []}),
    Option(FLOOR, "floor",
           "smallest speedup drop that fails a case, unless its baseline sets its own 'floor'. Where "
           "the baseline's spread cannot see a drop this small, the case is judged at the drop it can see "
           "(its minimum detectable drop: the summary's 'sees' column, marked *), and says so. "
           f"Default: {DEFAULT_FLOOR}",
           {"metavar": "FRACTION", "type": fraction_type, "default": DEFAULT_FLOOR}),
    Option(ALPHA, "alpha",
           "chance of any false alarm over the whole run (Bonferroni over gated cases), where the "
           "between-session prior is right: too small a prior can exceed it (docs/calibration.md). "
           f"Default: {DEFAULT_FAMILY_ALPHA}",
           {"metavar": "FRACTION", "type": alpha_type, "default": DEFAULT_FAMILY_ALPHA}),
    Option(BUDGET, "budget_s", f"measuring time per model, all its variants together. Default: {_BUDGET:g}",
           {"metavar": "SECONDS", "type": seconds_up_to(600.0), "default": _BUDGET}),
    Option(REPEAT, "repeat",
           "measure each model in N separate processes; all N runs are gated together, and "
           "--ig-update-baselines records all N (the gate needs the spread between runs). "
           f"Default: {DEFAULT_REPEAT}, or {RECORD_RUNS} with --ig-update-baselines",
           {"metavar": "N", "type": whole_number(1, MAX_RUNS), "default": None}),
    Option(THREADS, "threads",
           "torch intra-op threads while measuring; baselines recorded with another count are "
           f"not compared. Default: {DEFAULT_THREADS}",
           {"metavar": "N", "type": whole_number(1, 1024), "default": DEFAULT_THREADS}),
    Option(CONFIRM_RUNS, "confirm_runs",
           "fresh processes that re-measure a case the screen flags; it fails only if all its "
           f"runs together are a regression. 0: decide on the first runs. Default: {DEFAULT_CONFIRM_RUNS}",
           {"metavar": "N", "type": whole_number(0, MAX_RUNS), "default": DEFAULT_CONFIRM_RUNS}),
    Option(CONFIRM_BUDGET, "confirm_budget_s",
           f"re-measuring time the whole run may spend on flagged cases. Default: {DEFAULT_CONFIRM_BUDGET_S:g}",
           {"metavar": "SECONDS", "type": seconds_up_to(7200.0), "default": DEFAULT_CONFIRM_BUDGET_S}),
    Option(REQUIRE_BASELINE, "require_baseline",
           "fail perf cases (exit 1) that have no baseline or fusion expectation for this machine class and lane; "
           "with no baselines file for the class and lane at all, nothing could be gated: the run stops before "
           f"measuring (exit {EXIT_USAGE_ERROR}, a usage error). Without it, a run that judged nothing exits "
           f"{EXIT_NOTHING_JUDGED}. Default: off",
           {"action": "store_true", "default": False}),
    Option(ON_INCONCLUSIVE, "on_inconclusive",
           "what a case the gate could not decide does to the run: 'fail' exits with code "
           f"{EXIT_INCONCLUSIVE} (when nothing regressed), 'pass' only reports it (a run that judged no case "
           f"still exits {EXIT_NOTHING_JUDGED}). Default: fail",
           {"choices": ("fail", "pass"), "default": "fail"}),
    Option(ON_UNVERIFIED, "on_unverified",
           "what a case that showed no significant drop but could not rule out the floor does to the run: "
           f"'fail' exits with code {EXIT_UNVERIFIED} (when nothing worse happened), 'pass' only reports it. "
           "Default: fail",
           {"choices": ("fail", "pass"), "default": "fail"}),
    Option(INJECT, "inject",
           "TEST ONLY: build VARIANT with extra in-graph work in every layer (zero-weight matmuls "
           "sized to FRACTION of the layer's FLOPs) to see the gate catch a real slowdown; the "
           f"summary flags it, and {UPDATE_BASELINES} is refused with it. Default: off",
           {"metavar": "VARIANT=FRACTION", "type": injection_type, "default": None}),
    Option(ISOLATE, "isolate",
           "run each case's build and run in a worker process, so a crash or hang fails only that "
           "case: auto (perf and IPEX cases), always, never. Default: auto",
           {"metavar": "MODE", "type": _mode, "default": Mode.AUTO}),
    Option(TIMEOUT, "timeout_s", _timeout_help, {"metavar": "SECONDS", "type": TIMEOUT_SECONDS, "default": None}),
    Option(FUSIONS_MD, "fusions_md",
           "also write the fusion table into this Markdown file, replacing only this lane's "
           "section. Default: none",
           {"metavar": "PATH", "type": _markdown_path, "default": None}),
    Option(SUITE, "suite",
           "collect the plugin's own perf and correctness tests for your configured models, in a project "
           "that has no such test files (README: Your models): all, perf, correctness or none. Default: auto: "
           "all when the rootdir's pyproject.toml configures models and pytest is given no paths, else none",
           {"choices": SUITE_CHOICES, "default": "auto"}),
)


def option(flag: str) -> Option:
    """The declared option ``flag`` (a command adds it to its own parser with this)."""
    found = next((o for o in OPTIONS if o.flag == flag), None)
    if found is None:
        raise KeyError(f"no infergate option {flag}")
    return found


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, GROUP_DESCRIPTION)
    for o in OPTIONS:
        o.add_to(group.addoption)


@dataclass(frozen=True)
class Settings:
    """This run's infergate options, typed and validated; the defaults are the options' (``OPTIONS``)."""

    profile: Profile
    baselines_dir: Path
    update_baselines: bool
    replace_baselines: bool
    record_disturbed: bool
    results_json: Path | None
    shard: tuple[int, int] | None
    config: Path | None
    checkpoints: tuple[str, ...]
    floor: float
    alpha: float
    budget_s: float
    repeat: int | None  # None: defaults.runs_per_model's rule
    threads: int
    confirm_runs: int
    confirm_budget_s: float
    require_baseline: bool
    on_inconclusive: Literal["fail", "pass"]
    on_unverified: Literal["fail", "pass"]
    inject: tuple[str, float] | None
    isolate: Mode
    timeout_s: float | None  # None: each variant's own
    fusions_md: Path | None
    suite: Literal["auto", "all", "perf", "correctness", "none"]

    @classmethod
    def from_values(cls, value: Callable[[Option], Any], root: Path) -> Settings:
        """Settings from ``value(option)``, each already converted; baselines default to ``root``/baselines."""
        known = {f.name for f in fields(cls)}
        values = {o.setting: value(o) for o in OPTIONS}
        assert set(values) == known, sorted(set(values) ^ known)  # one field per option, no more
        values["checkpoints"] = tuple(values["checkpoints"] or ())
        given = values["baselines_dir"]
        if given is not None and not given.is_dir() and not values["update_baselines"]:
            # A mistyped directory measured the whole profile and then judged nothing (exit 7).
            raise UsageError(f"{BASELINES_DIR} {given} does not exist: nothing there to judge against (give "
                             f"{UPDATE_BASELINES} to record into it)")
        values["baselines_dir"] = given or root / "baselines"
        for flag, name in ((REPLACE_BASELINES, "replace_baselines"), (RECORD_DISTURBED, "record_disturbed")):
            if values[name] and not values["update_baselines"]:  # it would silently do nothing
                raise UsageError(f"{flag} changes how {UPDATE_BASELINES} records: give both, or leave {flag} out")
        if values["inject"] and values["update_baselines"]:  # refused here, not after the whole run's measuring
            raise UsageError(f"{INJECT} slows a variant on purpose and such a run never records baselines: "
                             f"leave out {INJECT} or {UPDATE_BASELINES}")
        return cls(**values)

    @classmethod
    def from_pytest_config(cls, config: pytest.Config) -> Settings:
        # Relative to the rootdir, not the working directory: started from a subdirectory, a
        # cwd-relative default would find no baselines and pass every case as "no-baseline".
        return cls.from_values(lambda o: config.getoption(o.flag), Path(config.rootpath))

    @classmethod
    def from_args(cls, args: argparse.Namespace, root: Path) -> Settings:
        """From a command's parsed arguments. Options the command does not declare hold their defaults
        here, even when passed on to pytest: read only the fields the command declares."""
        return cls.from_values(lambda o: getattr(args, o.dest, o.kwargs.get("default")), root)
