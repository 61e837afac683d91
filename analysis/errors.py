"""User-facing errors.

Every problem a user can cause (a bad file, a term that never occurs, a model that cannot be had offline, too few
points for a method) raises a subclass of :class:`SenseScopeError` whose message is one plain sentence. The CLI prints
it and exits with status 2; pages show it with ``st.error``. Anything else is a bug and keeps its traceback.
"""


class SenseScopeError(Exception):
    """Base class of errors whose message is meant for the user."""


class CorpusError(SenseScopeError):
    """The corpus file or its columns cannot be used."""


class NoOccurrencesError(CorpusError):
    """The target term does not occur in the corpus."""


class ModelLoadError(SenseScopeError):
    """A model id or path cannot be loaded (offline, missing, unsupported)."""


class ConfigError(SenseScopeError):
    """A parameter is out of range or inconsistent (layer, window, k, ...)."""


class TooFewPointsError(SenseScopeError):
    """There are too few occurrences for the chosen method."""
