"""Exceptions a user of lightly_ray can act on.

Every error says what was wrong, where (file, config key) and what is allowed instead.
"""

from __future__ import annotations


class LightlyRayError(Exception):
    """Base class of all errors raised by lightly_ray for bad input or configuration."""


class ConfigError(LightlyRayError, ValueError):
    """A configuration is invalid.

    Attributes:
        problems: One message per problem, each starting with the dotted key path.

    """

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {problem}" for problem in problems)
        count = len(problems)
        super().__init__(f"{count} configuration problem{'s' if count != 1 else ''}{where}:\n{lines}")


class NotYetSupportedError(LightlyRayError):
    """A valid configuration asks for a feature this version of lightly_ray cannot run yet."""

    def __init__(self, features: list[str]) -> None:
        self.features = features
        lines = "\n".join(f"  - {feature}" for feature in features)
        super().__init__(
            "The configuration is valid, but this version of lightly_ray cannot run it yet:\n"
            f"{lines}\nRemove or change these keys to run now."
        )


class SelectionInputError(LightlyRayError, ValueError):
    """A selection's inputs cannot be built or selected on.

    Building them from a run's data (an unknown task, score, metadata key or class) or
    selecting on the arrays (NaN or infinite values, a wrong shape, an unknown objective or
    threshold operation). The message starts with the config path or objective label.
    """


class WeightsNotAvailableError(LightlyRayError):
    """The model weights the configuration asks for cannot be loaded."""


class StorageError(LightlyRayError):
    """A storage location cannot be opened, read or written."""


class ReadOnlyLocationError(StorageError):
    """Something tried to write to a location that was opened read-only (the input)."""


class UnsafePathError(StorageError):
    """A relative path would escape its storage location."""


class InputFormatError(LightlyRayError):
    """A file in the lightly location does not follow its format.

    Predictions, metadata, relevant filenames, embeddings CSV: the message names the file and
    the key and says what was expected.
    """


class ClusterError(LightlyRayError):
    """The Ray cluster named by `--address` (or RAY_ADDRESS) is malformed or does not answer."""


class UsageError(LightlyRayError):
    """A command-line or API argument is malformed (not the config: see ConfigError)."""


def user_message(error: BaseException) -> str:
    """The one message a user sees for an error: what went wrong and what to change.

    A lightly_ray error speaks for itself. An error raised inside a Ray task arrives wrapped in
    Ray's task error, whose text repeats the remote traceback: its cause is shown instead. Any
    other exception is a bug, and the message says how to report it.

    Args:
        error: The exception that ended the command.

    Returns:
        A message without a traceback.

    """
    cause = getattr(error, "cause", None)
    if type(error).__name__.startswith("RayTaskError") and isinstance(cause, BaseException):
        error = cause
    if isinstance(error, KeyboardInterrupt):
        return "interrupted: the run stopped; a run folder it started has no _SUCCESS"
    if isinstance(error, LightlyRayError):
        return str(error)
    detail = str(error) or "(no message)"
    return (
        f"unexpected {type(error).__name__}: {detail}\n"
        "This is a bug in lightly_ray: rerun with --debug (or LIGHTLY_RAY_DEBUG=1) and report the traceback."
    )
