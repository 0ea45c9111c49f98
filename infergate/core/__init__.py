"""The ground floor: errors, the one atomic file writer, argument types shared by pytest options and
the commands, the repository's paths.

May import nothing else in infergate. The order of layers, checked by tests/test_architecture.py: core <
matrix < building < measuring < reports < gate < pytest_plugin < commands; a layer imports only
layers before it.
"""
