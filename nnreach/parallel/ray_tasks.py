"""Ray: joining a cluster (:func:`connect`), and benchmark rows as Ray tasks (:class:`RayExecutor`).
Calls that share one state, such as the chunks of a search or the X0 boxes of a closed loop, run as
Ray tasks through :class:`nnreach.parallel.pools.RayPool`, with the retries of :data:`RETRIES`.

``connect("local")`` starts a Ray instance on this machine; any other address (``"auto"``,
``"ray://host:10001"``, ``"host:6379"``) joins a running cluster as ``ray.init(address=...)`` does.
Ray is an optional dependency (``pip install nnreach[ray]``); without it :func:`connect` raises an
InputError saying so.

Lost work is retried, never duplicated: every task is a pure function of its arguments (a benchmark
row runs the verifier in a fresh process; a chunk search starts from the domains it was given), Ray
runs a task again when its worker dies (``max_retries``), and the driver consumes each task's result
exactly once, as it completes.

On a cluster the model and property files must be readable at the same paths on every node (a shared
file system), as the rows name them by absolute path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from ..errors import InputError

RETRIES = 3
"""Times Ray runs a task again after its worker died."""

T = TypeVar("T")
R = TypeVar("R")


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'nnreach[ray]'") from None
    return ray


def connect(address: str, cpus: int | None = None) -> int:
    """Join (or, for ``"local"``, start) a Ray cluster once per process; returns its CPU count.

    Raises:
        InputError: Ray is not installed, or no cluster answers at ``address``.
    """
    ray = _ray()
    if not ray.is_initialized():
        options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            if address == "local":
                ray.init(num_cpus=cpus, **options)
            else:
                ray.init(address=address, **options)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise InputError(f"cannot connect to the Ray cluster at {address!r}: {e}") from None
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _call(fn: Callable[[T], R], item: T) -> R:
    return fn(item)


class RayExecutor:
    """Maps a function over items as Ray tasks, one CPU each, yielding ``(index, result)`` pairs as
    tasks finish (the bench executor interface). Call :func:`connect` first."""

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R]]:
        ray = _ray()
        task = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)(_call)
        fn_ref = ray.put(fn)
        index = {task.remote(fn_ref, item): i for i, item in enumerate(items)}
        pending = list(index)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield index[ref], ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
