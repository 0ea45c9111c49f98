"""``python -m infergate <command>`` (and the ``infergate`` script): one front for every command.
Stdlib only until a command is chosen, so ``lanes``, ``measuring-env`` and every ``--help`` run under
the system Python; a command that needs a lane says so in one line (exit 2).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from ..core import exit_codes
from .front import FRONT


@dataclass(frozen=True)
class Command:
    module: str  # has main(argv) -> int
    help: str


COMMANDS: dict[str, Command] = {
    "run": Command("infergate.commands.run", "run the perf suite and gate speedups against the baselines"),
    "baselines": Command("infergate.commands.baselines_cli",
                         "add CI results or import runner files as baseline sessions; show baselines"),
    "history": Command("infergate.commands.history_cli",
                       "the results history: add perf results, show, detect change points, promote, publish"),
    "claims": Command("infergate.commands.claims_cli",
                      "measure the guide's fusion claim and whether compile can replace IPEX"),
    "guide-recipe": Command("infergate.commands.guide_recipe_cli",
                            "run the guide's Trainer --jit_mode_eval recipe: traced or fell back, and its speed"),
    "lanes": Command("infergate.commands.lanes_cli", "set up, lock, hash and locate the lanes' environments"),
    "gate": Command("infergate.commands.gate_cli", "the upgrade gate: two lanes measured in lock-step, then bisected"),
    "gate-calibrate": Command("infergate.commands.gate_calibrate", "the upgrade gate checked on recorded pools"),
    "calibrate": Command("infergate.commands.calibrate", "the speedup gate's false-alarm rate and power, measured"),
    "envprobe": Command("infergate.commands.envprobe", "compare measuring environments (allocator, threads)"),
    "measuring-env": Command("infergate.commands.measuring_env_cli",
                             "the Debian packages the measuring environment needs and this machine lacks"),
    "init": Command("infergate.commands.init", "write a commented starter config of your models (README: Your models)"),
    "measure": Command("infergate.commands.measure", "one model's outputs, for looking at a case by hand"),
    "merge": Command("infergate.commands.merge_cli",
                      "merge results JSON files of sharded runs (a case measured twice is refused)"),
    "report": Command("infergate.commands.report_cli", "Markdown/PNG report of a gate or perf result"),
    "shards": Command("infergate.commands.shards_cli", "the nightly's shard plan, derived from a profile"),
    "audit": Command("infergate.commands.audit", "pip-audit every lane lock (strict: unaudited is a failure)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {FRONT} COMMAND [options]   (COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {c.help}" for name, c in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return exit_codes.OK if argv else exit_codes.USAGE
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"infergate: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return exit_codes.USAGE
    try:
        return int(importlib.import_module(command.module).main(argv[1:]) or 0)
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.partition(".")[0] == "infergate":
            raise  # a broken package, not a missing lane
        print(f"infergate {argv[0]}: {sys.executable} has no {exc.name}; run it under a lane's python, "
              f"e.g. .venvs/ipex/bin/python -m infergate {argv[0]}", file=sys.stderr)
        return exit_codes.USAGE
