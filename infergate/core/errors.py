"""The project's error types. Every expected failure is one of these, with one clear message."""

from __future__ import annotations


class InfergateError(Exception):
    """Base of every error infergate raises on purpose; the message is meant for a person."""


class UsageError(InfergateError):
    """A bad option value, unknown model/variant/dtype name, or a missing checkpoint."""


class PackageMissing(UsageError):
    """A package every lane installs (the packaged checkpoint) is absent from this interpreter, e.g.
    the bare python3 that sets the lanes up. ``module`` is the missing import name."""

    def __init__(self, message: str, module: str) -> None:
        super().__init__(message)
        self.module = module


class DataFileError(InfergateError):
    """A baseline or result file that is corrupt, truncated, ill-typed or of an unknown version.

    The file is never rewritten when this is raised: the user's data is left as it was.
    """


class BuildError(InfergateError):
    """A variant could not be built (trace, freeze, optimize or compile failed)."""


class ProofError(InfergateError):
    """A variant was built but is not what it claims to be (e.g. a 'jit' that is still eager)."""


class CaseCrashed(InfergateError):
    """A case's worker process died: killed by a signal (segfault, abort) or exited (IPEX's exit(127)).

    The message names the signal or exit code and ends with the last lines of the worker's stderr.
    """


class CaseTimeout(InfergateError):
    """A case ran longer than its timeout; its worker's whole process group was killed."""


class CaseError(InfergateError):
    """An exception raised inside a case's worker that could not travel back as itself (unpicklable);
    the message keeps its type and text."""


class CaseUnavailable(InfergateError):
    """Discovered at run time that a case cannot run here; the message is the precise skip reason."""


class WorkerOutcome(InfergateError):
    """A test's own skip, xfail or failure inside a worker, brought back as plain data (pytest's
    outcome exceptions do not pickle); the pytest plugin raises it again as pytest's."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "Skipped", "XFailed" or "Failed": the name of pytest's outcome class
        self.message = message
