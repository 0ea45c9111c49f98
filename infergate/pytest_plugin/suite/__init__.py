"""The perf and correctness tests themselves, shipped in the package so an installed plugin has them
(absolute imports: tests/test_architecture.py reads a relative import as one from a layer).

The repository's ``perf/`` and ``correctness/`` files import these functions (pytest collects a
test function wherever its module finds it), so the checks exist once. In a user's project, which
has no such files, ``project.py`` hands pytest these modules' paths and they are collected as they
are: there, ``CONFIGURED_MODELS_ONLY`` restricts their matrix to the user's configured models (and
``--ig-checkpoint``'s), without the built-in profile's zoo (``params.profile_of``).
"""
