"""The pytest face: the plugin, every option (``settings.py``), the per-session ``RunContext``, and
the thin perf, fusion and isolation hooks. May import every layer but commands."""
