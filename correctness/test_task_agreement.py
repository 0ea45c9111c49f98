"""The answers a user sees agree: predicted class, QA start/end span, token tags.

The check itself is in the package (infergate/pytest_plugin/suite/test_correctness.py), where an installed
plugin runs it on a user's configured models; imported here, it runs on the profile's matrix too.
"""

from infergate.pytest_plugin.suite.test_correctness import test_task_answers_agree

__all__ = ["test_task_answers_agree"]
