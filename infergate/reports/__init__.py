"""Reports: the terminal summary, results JSON in pytest-benchmark's format, merged results, Markdown
and PNG reports, the claims report, the history's static HTML dashboard.

May import core, matrix, building and measuring. The order of layers, checked by
tests/test_architecture.py: core < matrix < building < measuring < reports < gate < pytest_plugin <
commands; a layer imports only layers before it.
"""
