"""Speedup of every variant over eager, per model x variant x dtype of the profile's perf matrix.

The test itself is in the package (infergate/pytest_plugin/suite/test_perf.py), where an installed plugin
runs it on a user's configured models; imported here, it runs on the profile's matrix too.
"""

from infergate.pytest_plugin.suite.test_perf import test_speedup

__all__ = ["test_speedup"]
