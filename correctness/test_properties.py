"""A graph traced, frozen or compiled at one shape must still match eager at other shapes.

The check itself is in the package (infergate/pytest_plugin/suite/test_correctness.py), where an installed
plugin runs it on a user's configured models; imported here, it runs on the profile's matrix too.
"""

from infergate.pytest_plugin.suite.test_correctness import test_other_shapes_match_eager

__all__ = ["test_other_shapes_match_eager"]
