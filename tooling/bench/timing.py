"""Timing shared by the Python sides of the benchmarks (run as scripts: this folder is on sys.path)."""
import time


def best_of(fn, repeats):
    """The shortest of `repeats` timed calls of `fn`, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
