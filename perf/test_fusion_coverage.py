"""Fusion coverage of the profile's perf models: which fusions the executed TorchScript graph got.

The test itself is in the package (infergate/pytest_plugin/suite/test_perf.py), where an installed plugin
runs it on a user's configured models; imported here, it runs on the profile's matrix too.
"""

from infergate.pytest_plugin.suite.test_perf import test_no_fusion_lost

__all__ = ["test_no_fusion_lost"]
