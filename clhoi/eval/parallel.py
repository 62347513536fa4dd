"""A second process for ``clhoi evaluate``, used only when a CPU is idle.

``clhoi evaluate`` reads two independent inputs (annotations, predictions) and, for a large
predictions file, parses two independent halves of it. On a machine with an idle CPU a
forked child does one of them; the result comes back pickled through shared memory (a
pipe would wake the child once per 64 KiB, which on a busy machine costs more than it
saves). On a busy machine (:func:`idle_cpu`) or without ``fork`` everything stays in one
process. Either way the results are the same: the child runs the same function on the
same input, and any failure in it (an exception, a result too large, a crash) only makes
the caller do the work itself, which then raises the same error it always did.

``CLHOI_EVALUATE_PROCESSES=1`` in the environment keeps everything in one process.
"""

from __future__ import annotations

import os
from typing import Any, Callable

NO_RESULT = object()
"""What :func:`fork_call`'s ``join`` gives when the child produced nothing usable."""


def idle_cpu() -> bool:
    """A second process is worth starting: ``fork`` exists, ``CLHOI_EVALUATE_PROCESSES`` is not ``1``, at
    least 2 usable CPUs, and a load average (last minute) at most their number minus 1.

    On a busy machine a second process only competes with the first (measured: reading a
    42 MB predictions file in two processes took longer than in one while two other jobs
    kept both cores busy).
    """
    if not hasattr(os, "fork") or os.environ.get("CLHOI_EVALUATE_PROCESSES") == "1":
        return False
    if os.environ.get("CLHOI_EVALUATE_PROCESSES") == "2":  # asked for (benchmarks)
        return True
    try:
        cpus = len(os.sched_getaffinity(0))
        return cpus >= 2 and os.getloadavg()[0] <= cpus - 1
    except (AttributeError, OSError):
        return False


def fork_call(fn: Callable[..., Any], *args: Any, capacity: int) -> Callable[[], Any] | None:
    """Start ``fn(*args)`` in a forked child; ``None`` when no child could be started.

    Returns ``join``: it waits for the child and gives ``fn``'s result, or :data:`NO_RESULT`
    when the child raised, crashed, or its pickled result exceeded ``capacity`` bytes.
    Call ``join`` exactly once (also when the caller's own work fails: it reaps the child).
    """
    import mmap
    import pickle

    try:
        shared = mmap.mmap(-1, 8 + capacity)
        pid = os.fork()
    except (OSError, ValueError):
        return None
    if pid == 0:  # the child: compute, leave the result, exit without any clean-up (atexit, buffers, frees)
        try:
            result = fn(*args)
            # pickled straight into the shared memory (protocol 5 writes large buffers, such as arrays'
            # data, without an intermediate copy); a result over capacity raises ValueError there
            shared.seek(8)
            pickle.dump(result, shared, protocol=5)
            shared[:8] = (shared.tell() - 8).to_bytes(8, "little")
        except BaseException:  # noqa: BLE001 - whatever happens, the parent does the work itself
            pass
        finally:
            os._exit(0)

    def join() -> Any:
        try:
            os.waitpid(pid, 0)
            size = int.from_bytes(shared[:8], "little")
            if not size:
                return NO_RESULT
            with memoryview(shared) as view:  # unpickled in place: the objects copy what they keep
                return pickle.loads(view[8:8 + size])
        except Exception:  # noqa: BLE001 - no complete result: the child failed
            return NO_RESULT
        finally:
            try:
                shared.close()
            except BufferError:  # a view of it still alive (none is kept): it is closed when collected
                pass

    return join
