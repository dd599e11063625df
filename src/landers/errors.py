"""The exceptions that reach the user as a sentence instead of a traceback, each with the exit
code the CLI ends with, and `first_line`, which makes a library's error fit in that sentence."""


def first_line(error: BaseException | str) -> str:
    """The first line of a library's error (torch's, numpy's, the ONNX exporter's and parsers'
    messages run to many lines) without its closing punctuation, to quote inside a sentence;
    an exception without a message is named by its type."""
    lines = str(error).strip().splitlines()
    if lines:
        return lines[0].strip().rstrip(":. ")
    return type(error).__name__ if isinstance(error, BaseException) else ""


class LandersError(Exception):
    """Bad input or an unusable file: the CLI prints the message and exits non-zero."""

    exit_code = 2


class WorkFailed(LandersError):
    """The command's own work failed, not what it was given: torch could not export the
    policy, the exported graph disagreed with the agent, Ray stopped a study."""

    exit_code = 1


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
