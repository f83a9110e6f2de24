"""Exception types. Every error a user can cause derives from :class:`InputError`.

The command lines (:func:`reported`) turn an :class:`InputError` into one line on stderr and exit code
2; any other exception is an internal error (exit code 1); Ctrl-C is exit code 130.
"""

import os
import sys
from typing import Callable

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


class NnreachError(Exception):
    """Base class of all errors raised on purpose by nnreach."""


class InputError(NnreachError):
    """Bad user input: a missing or malformed file, a shape mismatch, an impossible option."""


class UnsupportedError(InputError):
    """Well-formed input that uses something nnreach does not support (an ONNX op, a spec form)."""


def reported(prog: str, run: Callable[[], int]) -> int:
    """``run()``'s exit code, or the exit code of what it raised, reported in one line on stderr
    prefixed with ``prog`` (an internal error's traceback with ``NNREACH_DEBUG=1``)."""
    try:
        return run()
    except InputError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # an internal error: one line, traceback on request
        if os.environ.get("NNREACH_DEBUG"):
            raise
        print(f"{prog}: internal error: {type(e).__name__}: {e} (set NNREACH_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL
