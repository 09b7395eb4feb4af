"""The exceptions attnmc raises.

``Error``
    A run failed (the command line's exit code 1): an unreadable file, a
    write error, an internal failure. A subclass of ``RuntimeError``.
``ConfigError``
    Bad input (the command line's exit code 2): an unknown section or key, a
    value of the wrong type or out of range, an unwritable or occupied
    output directory. ``key`` is the dotted configuration key the message
    names (``"model.width"``, ``"sde.zzz"``), or ``"output"``, ``"command"``,
    ``"range"``... Nothing has run and nothing was written. A subclass of
    ``Error`` and of ``ValueError``.

A run stopped by Ctrl-C (or by a progress callback that raised) raises
``KeyboardInterrupt`` (or the callback's exception) after the chunk in
flight; its output directory is not written.
"""


class Error(RuntimeError):
    """A run failed (the CLI's exit code 1)."""


class ConfigError(Error, ValueError):
    """Bad input (the CLI's exit code 2); ``key`` names the parameter."""

    def __init__(self, message, key):
        super().__init__(message)
        self.key = key

    def __reduce__(self):
        return (type(self), (str(self), self.key))


class RunWarning(UserWarning):
    """A run finished but failed numerically (e.g. every network non-finite)."""
