"""Nothing from outside runs as code: a checkpoint's pickle payload, a config's remote code."""

from __future__ import annotations

import json
import re
import runpy
from pathlib import Path

import pytest

from infergate.core.errors import UsageError
from infergate.matrix.checkpoint import checkpoint_spec, load_task_model
from infergate.matrix.zoo import Task

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parent.parent
TINY_BERT = {
    "model_type": "bert", "num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
    "intermediate_size": 37, "vocab_size": 99, "max_position_embeddings": 64,
}


class Payload:
    """Unpickling this calls open(marker, 'w'): a file appears if the pickle's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def checkpoint_with_payload(directory: Path, marker: Path) -> Path:
    directory.mkdir()
    (directory / "config.json").write_text(json.dumps(TINY_BERT))
    torch.save({"bert.embeddings.word_embeddings.weight": Payload(marker)}, directory / "pytorch_model.bin")
    return directory


def test_the_payload_is_live_when_loaded_unsafely(tmp_path: Path) -> None:
    # The control: without weights_only the same file does run code, so the next test can fail.
    marker = tmp_path / "ran"
    ckpt = checkpoint_with_payload(tmp_path / "ckpt", marker)
    torch.load(ckpt / "pytorch_model.bin", weights_only=False)
    assert marker.exists()


def test_a_pickle_with_a_payload_is_refused_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    ckpt = checkpoint_with_payload(tmp_path / "ckpt", marker)
    spec = checkpoint_spec(str(ckpt), Task.SEQ_CLS, attention="eager")
    with pytest.raises(UsageError) as info:
        load_task_model(spec)
    assert not marker.exists(), "the checkpoint's pickle payload was executed"
    message = str(info.value)
    pickle_file = ckpt.resolve() / "pytorch_model.bin"
    assert message.startswith(f"refusing to load {pickle_file}: it is not a plain tensor pickle")
    assert "Unsupported global: GLOBAL io.open was not an allowed global" in message  # the cause, named
    assert "\n" not in message and "\x1b" not in message


REMOTE_CODE = """
from pathlib import Path
Path({marker!r}).write_text("remote code ran")
"""


def test_a_config_asking_for_remote_code_does_not_run_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    config = {**TINY_BERT, "auto_map": {"AutoConfig": "custom.CustomConfig",
                                        "AutoModelForSequenceClassification": "custom.CustomModel"}}
    (ckpt / "config.json").write_text(json.dumps(config))
    (ckpt / "custom.py").write_text(REMOTE_CODE.format(marker=str(marker)))
    _save_encoder(ckpt)  # a plain state dict: weights_only accepts it
    model = load_task_model(checkpoint_spec(str(ckpt), Task.SEQ_CLS, attention="eager"))
    assert type(model).__module__.startswith("transformers.models.bert")
    assert not marker.exists(), "the checkpoint's custom code was imported"
    runpy.run_path(str(ckpt / "custom.py"))  # the control: the code is live
    assert marker.exists()


def _save_encoder(ckpt: Path, rename: str | None = None) -> None:
    """A tiny BERT's encoder weights as a plain pickle; ``rename`` replaces the 'bert.' prefix."""
    import transformers

    model = transformers.BertModel(transformers.BertConfig(**TINY_BERT))
    state = {("bert." if rename is None else rename) + k: v for k, v in model.state_dict().items()}
    torch.save(state, ckpt / "pytorch_model.bin")


def test_a_checkpoint_whose_encoder_names_do_not_match_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps(TINY_BERT))
    _save_encoder(ckpt, rename="roberta.")
    with pytest.raises(UsageError, match=r"does not provide \d+ of the encoder's weights \(first: bert\."):
        load_task_model(checkpoint_spec(str(ckpt), Task.SEQ_CLS, attention="eager"))
    _save_encoder(ckpt)  # the control: the same weights under the right names load, and are used
    saved = torch.load(ckpt / "pytorch_model.bin", weights_only=True)
    loaded = load_task_model(checkpoint_spec(str(ckpt), Task.SEQ_CLS, attention="eager")).state_dict()
    name = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.equal(loaded[name], saved[name])


def _sources() -> list[Path]:
    return sorted(p for d in ("infergate", "correctness", "perf") for p in (REPO / d).rglob("*.py"))


def test_trust_remote_code_is_never_turned_on() -> None:
    uses = [(p.name, m.group(0)) for p in _sources()
            for m in re.finditer(r"trust_remote_code\s*=\s*\w+", p.read_text())]
    assert uses, "expected the loaders to pass trust_remote_code=False explicitly"
    assert all(use.endswith("False") for _, use in uses), uses


def test_every_torch_load_is_weights_only() -> None:
    calls = [(p.name, m.group(0)) for p in _sources()
             for m in re.finditer(r"torch\.load\([^)]*\)", p.read_text())]
    assert calls
    assert all("weights_only=True" in call for _, call in calls), calls


# Our own worker IPC (infergate/measuring/isolation.py) pickles between processes we start, in a private temp
# directory; nothing else may read pickles, so baselines and results stay plain JSON.
PICKLE_ALLOWED = {"isolation.py"}


def test_no_data_file_is_a_pickle() -> None:
    importing = re.compile(r"^\s*(import|from)\s+(pickle|cPickle|dill|shelve|marshal|joblib)\b", re.M)
    readers = [p.name for p in _sources() if importing.search(p.read_text())]
    assert set(readers) <= PICKLE_ALLOWED, readers
    assert "isolation.py" in readers  # the check sees an import when there is one


def test_a_pickle_saved_from_a_base_model_loads_its_encoder(tmp_path: Path) -> None:
    # BertModel.state_dict() (and sentence-transformers exports) name weights without the 'bert.'
    # prefix the task model uses; from_pretrained maps them, and so must the pickle path.
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps(TINY_BERT))
    _save_encoder(ckpt, rename="")
    saved = torch.load(ckpt / "pytorch_model.bin", weights_only=True)
    model = load_task_model(checkpoint_spec(str(ckpt), Task.SEQ_CLS, attention="eager"))
    loaded = model.state_dict()
    assert torch.equal(loaded["bert.embeddings.word_embeddings.weight"], saved["embeddings.word_embeddings.weight"])
    assert torch.equal(loaded["bert.encoder.layer.0.output.dense.weight"], saved["encoder.layer.0.output.dense.weight"])
