"""Timing shared by the Python sides of the benchmarks (run as scripts: this folder is on sys.path)."""
import statistics
import time

import mlx.core as mx


def best_of(fn, repeats):
    """The shortest of `repeats` timed calls of `fn`, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


class PhaseTimer:
    """Wall time of each phase of a repeated step, kept only after the warm-up steps.

    `for _ in timer.steps(n, warmup)` runs warmup + n steps; inside one, `timer.end(name)` ends
    the phase of that name, which began where the step's previous phase ended (or where the step
    began). Besides each phase, `total` is a step's start to the end of its last phase.
    """

    def __init__(self):
        self._seconds = {}
        self._keep = False
        self._start = self._last = 0.0

    def steps(self, n, warmup):
        for i in range(warmup + n):
            self._keep = i >= warmup
            self._start = self._last = time.perf_counter()
            yield i
            self._record("total", self._last - self._start)

    def end(self, name):
        now = time.perf_counter()
        self._record(name, now - self._last)
        self._last = now

    def median_ms(self, name):
        """The median of `name` over the timed steps, in milliseconds."""
        return statistics.median(self._seconds[name]) * 1000

    def _record(self, name, seconds):
        if self._keep:
            self._seconds.setdefault(name, []).append(seconds)


def timed_decode_steps(step, token, n, warmup, read):
    """Decodes warmup + n steps from `token` with `step` (token -> next token) and times each after
    the warm-up by phase: `build` (the next step's graph), `schedule` (mx.async_eval of it) and
    `read` (`read(token, nxt)`: reading token n while step n+1 runs, as a pipelined loop does, or
    waiting for step n+1 itself). Returns the PhaseTimer and the last token, still being computed."""
    timer = PhaseTimer()
    for _ in timer.steps(n, warmup):
        nxt = step(token)
        timer.end("build")
        mx.async_eval(nxt)
        timer.end("schedule")
        read(token, nxt)
        timer.end("read")
        token = nxt
    return timer, token
