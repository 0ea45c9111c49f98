"""The project's error types. Every expected failure is one of these, with one clear message."""

from __future__ import annotations


class InfergateError(Exception):
    """Base of every error infergate raises on purpose; the message is meant for a person."""


class UsageError(InfergateError):
    """A bad option value, unknown model/variant/dtype name, or a missing checkpoint."""


class DataFileError(InfergateError):
    """A baseline or result file that is corrupt, truncated, ill-typed or of an unknown version.

    The file is never rewritten when this is raised: the user's data is left as it was.
    """


class BuildError(InfergateError):
    """A variant could not be built (trace, freeze, optimize or compile failed)."""


class ProofError(InfergateError):
    """A variant was built but is not what it claims to be (e.g. a 'jit' that is still eager)."""
