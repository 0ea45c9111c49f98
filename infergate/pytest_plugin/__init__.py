"""The pytest face: the plugin registered by the root conftest; every option, declared once in
``settings.py`` and read into one frozen ``Settings`` (commands add the same options to their own
parsers); the ``RunContext`` built once per pytest session (settings, machine class, lane,
baselines file); and the perf, fusion and isolation hooks, which receive it. Hooks are thin; the
logic is in the layers below.

May import every layer below it; never commands. The order of layers, checked by
tests/test_architecture.py: core < matrix < building < measuring < reports < gate < pytest_plugin <
commands; a layer imports only layers before it.
"""
