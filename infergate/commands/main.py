"""``python -m infergate <command>`` (and the ``infergate`` script): one front for every command.

Stdlib only until a command is chosen: ``lanes`` and ``measuring-env`` run under the system Python
before any lane (and so before torch) exists. Each command's module owns its options and ``--help``.
The worker entry points (``infergate.measuring.isolation``, ``infergate.gate.lane_worker``) are
internal and not listed.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    module: str  # has main(argv) -> int
    help: str


COMMANDS: dict[str, Command] = {
    "run": Command("infergate.commands.run", "run the perf suite and gate speedups against the baselines"),
    "baselines": Command("infergate.commands.baselines_cli",
                         "add CI results or import runner files as baseline sessions; show baselines"),
    "claims": Command("infergate.commands.claims_cli",
                      "measure the guide's fusion claim and whether compile can replace IPEX"),
    "guide-recipe": Command("infergate.commands.guide_recipe_cli",
                            "run the guide's Trainer --jit_mode_eval recipe: traced or fell back, and its speed"),
    "lanes": Command("infergate.gate.lanes", "set up, lock, hash and locate the lanes' environments"),
    "gate": Command("infergate.gate.lanegate", "the upgrade gate: two lanes measured in lock-step, then bisected"),
    "gate-calibrate": Command("infergate.commands.gate_calibrate", "the upgrade gate checked on recorded pools"),
    "calibrate": Command("infergate.commands.calibrate", "the speedup gate's false-alarm rate and power, measured"),
    "envprobe": Command("infergate.commands.envprobe", "compare measuring environments (allocator, threads)"),
    "measuring-env": Command("infergate.measuring.measuring_env",
                             "the Debian packages the measuring environment needs and this machine lacks"),
    "init": Command("infergate.commands.init", "write a commented starter config of your models (README: Your models)"),
    "measure": Command("infergate.commands.measure", "one model's outputs, for looking at a case by hand"),
    "merge": Command("infergate.reports.merge", "merge results JSON files of sharded or repeated runs"),
    "report": Command("infergate.reports.report", "HTML/PNG report of a gate or perf result"),
    "shards": Command("infergate.building.shards", "the nightly's shard plan, derived from a profile"),
    "audit": Command("infergate.commands.audit", "pip-audit every lane lock (strict: unaudited is a failure)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m infergate COMMAND [options]   (COMMAND --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {c.help}" for name, c in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"infergate: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return int(importlib.import_module(command.module).main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
