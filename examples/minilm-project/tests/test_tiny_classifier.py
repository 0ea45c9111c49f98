"""The project's own test, collected next to infergate's: pytest runs both."""

import torch
from tiny_classifier import CLASSES, build


def test_the_factory_returns_logits_per_example():
    module, inputs = build("seqcls", torch.float32, (2, 16))
    (logits,) = module(**inputs)
    assert logits.shape == (2, CLASSES)
