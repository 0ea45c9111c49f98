"""Every variant × dtype against the FP32 eager reference, within the named tolerance table.

The check itself is in the package (infergate/pytest_plugin/suite/test_correctness.py), where an installed
plugin runs it on a user's configured models; imported here, it runs on the profile's matrix too.
"""

from infergate.pytest_plugin.suite.test_correctness import test_outputs_match_fp32_eager

__all__ = ["test_outputs_match_fp32_eager"]
