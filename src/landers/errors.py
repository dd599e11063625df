"""The exceptions that reach the user as a sentence instead of a traceback, each with the exit
code the CLI ends with; `first_line`, which makes a library's error fit in that sentence, and
`close_names`, the "did you mean" of those sentences."""


def first_line(error: BaseException | str) -> str:
    """The first line of a library's error (torch's, numpy's, the ONNX exporter's and parsers'
    messages run to many lines) without its closing punctuation, to quote inside a sentence;
    an exception without a message is named by its type."""
    lines = str(error).strip().splitlines()
    if lines:
        return lines[0].strip().rstrip(":. ")
    return type(error).__name__ if isinstance(error, BaseException) else ""


class LandersError(ValueError):
    """Bad input or an unusable file: the CLI prints the message and exits non-zero.

    A `ValueError` too, so that code written against the usual Python convention for a bad
    argument (`except ValueError`) catches landers' refusals as well."""

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


def close_names(name: str, known: list[str]) -> list[str]:
    """The names in `known` that `name` is plausibly a typo of, ignoring case: at most a quarter
    of its letters different (one for short names), so that `sac` does not suggest `a2c`."""
    lowered = name.lower()
    limit = max(1, len(lowered) // 4)
    scored = sorted((edit_distance(lowered, k.lower()), k) for k in known)
    return [k for d, k in scored if d <= limit][:3]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, a swap of two neighbours counting once (the usual typo)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        prev2, prev = prev, row
    return prev[-1]
