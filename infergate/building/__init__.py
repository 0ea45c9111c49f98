"""Building and proving: what this CPU and lane can do (capabilities, machine class), the variants
(each builds a runnable form of a model and proves what it built), the case matrix and profiles
(cases), the harness that builds cases, the nightly shard plan, the test-only slowdown injector.

May import core and matrix. The order of layers, checked by tests/test_architecture.py: core <
matrix < building < measuring < reports < gate < pytest_plugin < commands; a layer imports only
layers before it.
"""
