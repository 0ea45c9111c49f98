"""The model zoo as data: architectures, tasks, sizes, attention implementations; seeded, never downloaded."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Task(enum.Enum):
    QA = "qa"
    SEQ_CLS = "seqcls"
    TOKEN_CLS = "tokcls"

    @property
    def auto_class(self) -> str:
        return {
            Task.QA: "AutoModelForQuestionAnswering",
            Task.SEQ_CLS: "AutoModelForSequenceClassification",
            Task.TOKEN_CLS: "AutoModelForTokenClassification",
        }[self]


# Labels of the seeded heads. Enough classes that an argmax is a meaningful agreement check.
NUM_SEQ_LABELS = 3
NUM_TOKEN_LABELS = 9  # CoNLL-style BIO tag set size


@dataclass(frozen=True)
class Size:
    name: str
    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab: int  # capped for tiny/small; ``base`` uses the architecture's real vocabulary
    max_positions: int = 512


SIZES: dict[str, Size] = {
    # tiny: correctness only; 2 layers keep a whole correctness lane within CI time.
    "tiny": Size("tiny", layers=2, hidden=64, heads=4, intermediate=128, vocab=1024),
    # small: the default perf shape (~10 ms a call on 2 cores), 4 layers as in the calibration brief.
    "small": Size("small", layers=4, hidden=256, heads=4, intermediate=1024, vocab=8192),
    # base: the real base shapes, nightly only.
    "base": Size("base", layers=12, hidden=768, heads=12, intermediate=3072, vocab=0),
}


@dataclass(frozen=True)
class Arch:
    name: str
    model_type: str  # transformers' config model_type
    attentions: tuple[str, ...]  # attn_implementation values this arch supports
    token_type_ids: bool  # whether the model takes token_type_ids
    base_vocab: int
    keys: dict[str, str] = field(default_factory=dict)  # generic name -> config key, where different
    extra: dict[str, Any] = field(default_factory=dict)  # fixed config kwargs

    def config_kwargs(self, size: Size) -> dict[str, Any]:
        generic = {
            "num_hidden_layers": size.layers,
            "hidden_size": size.hidden,
            "num_attention_heads": size.heads,
            "intermediate_size": size.intermediate,
            "vocab_size": size.vocab or self.base_vocab,
            "max_position_embeddings": size.max_positions,
        }
        kwargs = {self.keys.get(k, k): v for k, v in generic.items()}
        kwargs.update(self.extra)
        # Dropout must not depend on train/eval mistakes: it is off in every built model.
        return kwargs


# transformers' attn_implementation values the matrix uses ("eager" here is attention, not a variant).
EAGER_ATTENTION, SDPA_ATTENTION = "eager", "sdpa"
ATTENTIONS = (EAGER_ATTENTION, SDPA_ATTENTION)

ARCHS: dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("bert", "bert", ("eager", "sdpa"), True, 30522),
        Arch(
            "distilbert",
            "distilbert",
            ("eager", "sdpa"),
            False,
            30522,
            keys={
                "num_hidden_layers": "n_layers",
                "hidden_size": "dim",
                "num_attention_heads": "n_heads",
                "intermediate_size": "hidden_dim",
            },
        ),
        Arch("roberta", "roberta", ("eager", "sdpa"), False, 50265,
             extra={"max_position_embeddings": 514, "pad_token_id": 1, "type_vocab_size": 1}),
        Arch("albert", "albert", ("eager", "sdpa"), True, 30000, extra={"embedding_size": 128}),
        Arch("electra", "electra", ("eager", "sdpa"), True, 30522),
        # DeBERTa-v2 has only its own (eager) disentangled attention.
        Arch("deberta-v2", "deberta-v2", ("eager",), False, 128100,
             extra={"type_vocab_size": 0, "relative_attention": True, "position_buckets": 256,
                    "pos_att_type": ["p2c", "c2p"], "max_relative_positions": -1,
                    "position_biased_input": False}),
    )
}

