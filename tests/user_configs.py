"""Configured-model tables the gate tests share: one tiny factory model (``tinymod:build``, which each
test writes next to the table) at 1 x 64, eager and jit."""

TINY_CONFIG = """
[tool.infergate]
[[tool.infergate.models]]
id = "tiny"
source = "tinymod:build"
tasks = ["seqcls"]
shapes = ["1x64"]
variants = ["eager", "jit"]
"""
