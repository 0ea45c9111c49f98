"""Reports: the terminal summary, results JSON in pytest-benchmark's format, merged results, HTML and
PNG reports, the claims report.

May import core, matrix, building and measuring. The order of layers, checked by
tests/test_architecture.py: core < matrix < building < measuring < reports < gate < pytest_plugin <
commands; a layer imports only layers before it.
"""
