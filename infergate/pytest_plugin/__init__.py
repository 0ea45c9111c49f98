"""The pytest face: the plugin registered by the root conftest, its option group, and the perf, fusion
and isolation hooks. Hooks are thin; the logic is in the layers below.

May import every layer below it; never commands. The order of layers, checked by
tests/test_architecture.py: core < matrix < building < measuring < reports < gate < pytest_plugin <
commands; a layer imports only layers before it.
"""
