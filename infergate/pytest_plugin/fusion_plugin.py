"""pytest hooks of the fusion check: parametrize, collect, summarise, record. Logic is in fusions.py."""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..building.cases import Case
from ..building.user_cases import user_cases
from ..building.variants import get_variant
from ..core.errors import DataFileError, InfergateError
from ..measuring import fusions
from .params import matrix_params, profile_of
from .session import session as run_session

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

FUSIONS_MARK = "infergate_fusions"


@dataclass
class FusionSession:
    """This run's fusion rows and what to record; one per pytest session."""

    path: Path
    machine_class: str
    lane: str
    update: bool
    require: bool = False  # --ig-require-baseline: a case without an expectation fails
    rows: list[fusions.Row] = field(default_factory=list)
    recorded: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skip_reasons: list[str] = field(default_factory=list)
    _loaded: bool = False
    _file: fusions.FusionFile | None = None

    def expectations(self) -> fusions.FusionFile | None:
        if not self._loaded:
            self._file = fusions.load(self.path)
            self._loaded = True
        return self._file

    def check(self, case: Case, counts: Mapping[str, int]) -> str | None:
        """Compare and remember one case; the failure message, or None when it passes."""
        try:
            file = self.expectations()
        except DataFileError as exc:  # never recorded over: the file is someone's data
            self.rows.append(fusions.Row(case, dict(counts), "bad expectations file"))
            return str(exc)
        expected = file.cases.get(case.id) if file else None
        verdict = fusions.compare(case.id, expected.counts if expected else None, counts)
        if self.update:
            self.recorded[case.id] = dict(counts)
            changed = verdict.lost or verdict.new
            status = "recorded" + (f" ({verdict.message().split(': ', 1)[1]})" if changed else "")
        elif not verdict.expected:
            status = "no expectation"
            if self.require:
                self.rows.append(fusions.Row(case, dict(counts), status))
                return (f"{case.id}: no fusion expectation in {self.path} and --ig-require-baseline was given; "
                        "record them with --ig-update-baselines")
        elif verdict.lost:
            status = "LOST " + "; ".join(map(str, verdict.lost))
        elif verdict.new:
            status = "new " + "; ".join(map(str, verdict.new))
        else:
            status = "ok"
        self.rows.append(fusions.Row(case, dict(counts), status))
        if verdict.failed and not self.update:
            return f"{verdict.message()} (expected per {self.path}; accept with --ig-update-baselines)"
        return None

    def unchecked(self, case: Case) -> str | None:
        """Why the case compared nothing (no expectation recorded), else None: a pass would claim a check."""
        row = next((r for r in reversed(self.rows) if r.case == case), None)
        if row is None or row.status != "no expectation":
            return None
        return (f"no fusion expectation for this case in {self.path} (machine class {self.machine_class}, lane "
                f"{self.lane}): its counts are in the table, nothing was compared; record with --ig-update-baselines")

    def skipped(self, case: Case, reason: str) -> None:
        # Reasons are long and repeat across cases: the row carries a footnote number.
        if reason not in self.skip_reasons:
            self.skip_reasons.append(reason)
        self.rows.append(fusions.Row(case, None, f"skipped [{self.skip_reasons.index(reason) + 1}]"))

    def footnotes(self) -> list[str]:
        return [f"[{i}] {reason}" for i, reason in enumerate(self.skip_reasons, 1)]

    def finish(self) -> None:
        if self.update and self.recorded:
            fusions.update(self.path, self.recorded, self.machine_class, self.lane)
            self.notes.append(
                f"recorded fusion expectations of {len(self.recorded)} case(s) into {self.path}"
            )
        elif not self.update and self._loaded and self._file is None:
            self.notes.append(
                f"no fusion expectations for this machine class and lane ({self.path}): nothing compared; "
                "record them with --ig-update-baselines"
            )

    def report_lines(self) -> list[str]:
        header, cells = fusions.table(self.rows)
        return [f"machine class {self.machine_class}, lane {self.lane}", *fusions.render_text(header, cells),
                *self.footnotes(), *fusions.sdpa_cost(self.rows), *self.notes]

    def markdown(self, command: str, profile: str) -> str:
        header, cells = fusions.table(self.rows)
        sdpa = fusions.sdpa_cost(self.rows)
        lines = [
            f"### Lane `{self.lane}` on `{self.machine_class}`", "",
            f"Produced by `{command}` (profile `{profile}`) on {fusions.now()}.", "",
            *fusions.render_markdown(header, cells), "",
        ]
        if self.skip_reasons:
            lines += [*(f"{note}  " for note in self.footnotes()), ""]
        if sdpa:
            lines += ["What SDPA costs under IPEX:", "", *(f"- {line}" for line in sdpa), ""]
        return "\n".join(lines)


_SESSION = pytest.StashKey[FusionSession]()


def session_of(config: pytest.Config) -> FusionSession:
    return config.stash[_SESSION]


def compared_count(config: pytest.Config) -> int:
    """Fusion cases compared with a recorded expectation in this run (0 without the plugin)."""
    if _SESSION not in config.stash:
        return 0
    return sum(1 for r in config.stash[_SESSION].rows if r.status == "ok" or r.status.startswith(("LOST", "new")))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{FUSIONS_MARK}: parametrize `case` over the profile's fusion cases")
    run = run_session(config)
    config.stash[_SESSION] = FusionSession(
        run.fusions_path, run.machine_class, run.lane,
        run.settings.update_baselines, run.settings.require_baseline)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker(FUSIONS_MARK) is None or "case" not in metafunc.fixturenames:
        return
    run = run_session(metafunc.config)
    # Configured models: their own variants and dtypes, where those have a graph to count fusions in.
    mine = [c for c in user_cases(run.models, perf=False)
            if c.variant in fusions.FUSION_VARIANTS and c.dtype in fusions.FUSION_DTYPES]
    metafunc.parametrize("case", matrix_params(fusions.fusion_cases(profile_of(metafunc, run.settings.profile)) + mine))


def _needs_ipex(item: pytest.Item) -> bool:
    case = getattr(getattr(item, "callspec", None), "params", {}).get("case")
    return isinstance(case, Case) and get_variant(case.variant).imports_ipex


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Importing IPEX is process-wide and afterwards BF16 autocast is unavailable on AVX2 (the
    # harness skips it), so fusion cases that do not need IPEX run first; other items keep their slots.
    slots = [i for i, item in enumerate(items) if item.get_closest_marker(FUSIONS_MARK)]
    ordered = sorted((items[i] for i in slots), key=_needs_ipex)
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


def pytest_collection_finish(session: pytest.Session) -> None:
    # Skipped cases never run their body; they are listed from their skip mark so the table shows them.
    for item in session.items:
        case = getattr(getattr(item, "callspec", None), "params", {}).get("case")
        skip = item.get_closest_marker("skip")
        if item.get_closest_marker(FUSIONS_MARK) and isinstance(case, Case) and skip is not None:
            session_of(session.config).skipped(case, skip.kwargs.get("reason", ""))


@pytest.fixture(scope="session")
def fusion_session(request: pytest.FixtureRequest) -> FusionSession:
    return session_of(request.config)


def counts_of(case: Case) -> dict[str, int]:
    """The fusion signals of the case's executed graph. Top level: an isolated case imports it by name."""
    from ..building.harness import example_inputs, harness
    from ..core.errors import CaseUnavailable
    from ..measuring.fusion_patterns import count_linear_calls, signals

    h = harness()
    try:
        built = h.built(case)
    except CaseUnavailable as exc:  # found unavailable at build time
        pytest.skip(str(exc))
    return dict(signals(built.kinds, linear_calls=count_linear_calls(h.model(case.spec), example_inputs(case.spec))))


@pytest.fixture
def fusion_counts(request: pytest.FixtureRequest) -> Callable[[Case], dict[str, int]]:
    """``counts(case)``, built where --ig-isolate and --ig-timeout say; the check stays in this process."""
    from ..core.errors import CaseCrashed, CaseTimeout, WorkerOutcome
    from ..measuring.isolation import run_in_worker
    from .isolation_plugin import alarm, raise_as_pytest, settings

    isolation = settings(request.config)

    def counts(case: Case) -> dict[str, int]:
        timeout = isolation.timeout_for(case.variant)
        if not isolation.isolates(case.variant):
            with alarm(timeout, case.id):
                return counts_of(case)
        try:
            return run_in_worker(counts_of, case, timeout=timeout)
        except WorkerOutcome as outcome:  # counts_of's skip, for a case unavailable at build time
            raise_as_pytest(outcome)
        except (CaseCrashed, CaseTimeout) as exc:
            failure = f"{case.id}: {type(exc).__name__}: {exc}"
        pytest.fail(failure, pytrace=False)

    return counts


def _command(config: pytest.Config) -> str:
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    return f"{python} -m pytest {shlex.join(config.invocation_params.args)}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _SESSION not in session.config.stash:
        return
    fusion_session = session_of(session.config)
    if not any(row.counts is not None for row in fusion_session.rows):
        return
    try:
        fusion_session.finish()
        md = run_session(session.config).settings.fusions_md
        if md is not None:
            body = fusion_session.markdown(_command(session.config), run_session(session.config).settings.profile.name)
            fusions.write_markdown(md, fusion_session.lane, body)
            fusion_session.notes.append(f"wrote the fusion table into {md}")
    except InfergateError as exc:  # a bad expectations file: reported, the run fails, the file is kept
        fusion_session.notes.append(f"ERROR: {exc}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _SESSION not in terminalreporter.config.stash:
        return
    fusion_session = session_of(terminalreporter.config)
    if not fusion_session.rows or terminalreporter.config.option.collectonly:
        return
    terminalreporter.section("infergate fusions")
    for line in fusion_session.report_lines():
        terminalreporter.write_line(line)
