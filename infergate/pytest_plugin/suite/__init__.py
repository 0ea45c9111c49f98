"""The perf and correctness tests themselves, shipped so an installed plugin has them; this
repository's ``perf/`` and ``correctness/`` import them, a user's project collects them through
``project_plugin.py``. Absolute imports: tests/test_architecture.py reads a relative one as a layer's.
"""
