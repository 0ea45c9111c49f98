"""The perf and correctness tests, shipped with the plugin (``project_plugin.py``) and imported by
``perf/`` and ``correctness/``. Absolute imports: the layer test reads a relative one as a layer's."""
