"""The command line: ``python -m infergate <command>`` and each command's module. Worker entry points
stay in their own layers.

May import every layer. The order of layers, checked by tests/test_architecture.py: core < matrix <
building < measuring < reports < gate < pytest_plugin < commands; a layer imports only layers before
it.
"""
