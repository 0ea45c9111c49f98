"""The project's error types. Every expected failure is one of these, with one clear message."""

from __future__ import annotations


class InfergateError(Exception):
    """Base of every error infergate raises on purpose; the message is meant for a person."""


class UsageError(InfergateError):
    """A bad option value, unknown model/variant/dtype name, or a missing checkpoint."""


class PackageMissing(UsageError):
    """A package every lane installs is absent from this interpreter; ``module`` is the import name."""

    def __init__(self, message: str, module: str) -> None:
        super().__init__(message)
        self.module = module


class DataFileError(InfergateError):
    """A baseline or result file that is corrupt, truncated, ill-typed or of an unknown version; never rewritten."""


class BuildError(InfergateError):
    """A variant could not be built (trace, freeze, optimize or compile failed)."""


class ProofError(InfergateError):
    """A variant was built but is not what it claims to be (e.g. a 'jit' that is still eager)."""


class CaseCrashed(InfergateError):
    """A case's worker process died (signal or exit code); the message ends with its stderr's last lines."""


class CaseTimeout(InfergateError):
    """A case ran longer than its timeout; its worker's whole process group was killed."""


class CaseError(InfergateError):
    """An exception from a case's worker that could not travel back as itself; keeps its type and text."""


class CaseUnavailable(InfergateError):
    """Discovered at run time that a case cannot run here; the message is the precise skip reason."""


class WorkerOutcome(InfergateError):
    """A test's own skip, xfail or failure inside a worker, as plain data; the plugin re-raises it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "Skipped", "XFailed" or "Failed": the name of pytest's outcome class
        self.message = message
