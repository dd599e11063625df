"""The exceptions that reach the user as a sentence instead of a traceback, each with the exit
code the CLI ends with."""


class LandersError(ValueError):
    """Bad input or an unusable file: the CLI prints the message and exits non-zero.

    A `ValueError` too, so that code written against the usual Python convention for a bad
    argument (`except ValueError`) catches landers' refusals as well."""

    exit_code = 2


class WriteFailed(LandersError):
    """A file could not be written (disk full, I/O error, read-only filesystem). Whatever was
    written before, the previous checkpoint included, is left complete."""

    exit_code = 1


class Diverged(LandersError):
    """Training met a number that is not finite (loss, gradient norm, parameters, normalizer
    statistics, or the env's observations and rewards) and stopped before learning from it.
    `env` names the env when its output was the cause."""

    exit_code = 3

    def __init__(self, message: str, env: str | None = None):
        super().__init__(message)
        self.env = env


class EnvCrashed(LandersError):
    """The env raised an exception. Its traceback (`__cause__`) is shown above the sentence:
    it points into the user's own code, where the fix is."""

    exit_code = 1
