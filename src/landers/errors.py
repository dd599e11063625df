"""The one exception type that reaches the user as a sentence instead of a traceback."""


class LandersError(Exception):
    """Bad input or an unusable file: the CLI prints the message and exits non-zero."""
