"""The same input twice gives bit-identical output (oneDNN/inductor must not be nondeterministic).

The check itself is in the package (infergate/pytest_plugin/suite/test_correctness.py), where an installed
plugin runs it on a user's configured models; imported here, it runs on the profile's matrix too.
"""

from infergate.pytest_plugin.suite.test_correctness import test_same_input_same_output

__all__ = ["test_same_input_same_output"]
