"""Exception types. Every error a user can cause derives from :class:`InputError`.

The CLI turns an :class:`InputError` into one line on stderr and exit code 2;
any other exception is an internal error (exit code 1).
"""


class NnreachError(Exception):
    """Base class of all errors raised on purpose by nnreach."""


class InputError(NnreachError):
    """Bad user input: a missing or malformed file, a shape mismatch, an impossible option."""


class UnsupportedError(InputError):
    """Well-formed input that uses something nnreach does not support (an ONNX op, a spec form)."""
