"""Pacing an ingest to the embedding server it meets, instead of assuming one.

A server may compute one request at a time (Ollama on one GPU or CPU), several, fast or
at a few texts a second, and fail now and then. Three rules follow:

- Requests are sized from measured latency: each should take about a sixth of the
  request timeout, queueing included, so a slow server is never timed out merely for
  being slow, and a request is not re-sent while the server is still computing it.
- Requests in flight grow one at a time while throughput grows (a server computing one
  at a time gains nothing from more), from two once the first has answered: one
  computing and one waiting, so the server never idles while rankwise inserts.
- Retries come from a budget for the whole ingest, not per request: a flaky server is
  ridden out, a dead one ends the ingest soon. Before the server has answered once, a
  request gets `retry_attempts` tries; after, failures in a row may reach five times that.
"""

from __future__ import annotations

import random
import threading
import time

from ..core.settings import Settings

_PROBE_TEXTS = 8       # the first request: small, so its latency arrives quickly
_LATENCY_SHARE = 6     # a request should take request_timeout / this, queueing included
_GAIN = 1.10           # one more request in flight must raise throughput this much
_AFTER_SUCCESS = 5     # failures in a row tolerated, as a multiple of retry_attempts


class Pacer:
    """Texts per request and requests in flight, adapted to measured latency."""

    def __init__(self, settings: Settings) -> None:
        self.max_batch = settings.embed_batch_size
        self.max_in_flight = settings.embed_concurrency + 1
        self.target_seconds = settings.request_timeout / _LATENCY_SHARE
        self.batch_size = min(_PROBE_TEXTS, self.max_batch)
        # The first request goes alone: until the server has answered once, a failure
        # of a second one could not tell a dead server from a slow first answer (the
        # retry budget's two allowances). Then two (max_in_flight is at least 2).
        self.in_flight = 1
        self.seconds_per_text: float | None = None
        self._lock = threading.Lock()
        self._completions: list[tuple[float, int]] = []
        self._best_throughput = 0.0
        self._climbing = True

    def succeeded(self, texts: int, latency: float) -> None:
        """A request of `texts` texts came back after `latency` seconds."""
        with self._lock:
            per_text = latency / max(texts, 1)
            self.seconds_per_text = per_text if self.seconds_per_text is None else (
                0.7 * self.seconds_per_text + 0.3 * per_text)
            fitting = int(self.target_seconds / max(self.seconds_per_text, 1e-6))
            self.batch_size = max(1, min(self.max_batch, fitting))
            self.in_flight = max(self.in_flight, 2)
            self._climb(texts)

    def slowed(self, texts: int) -> float:
        """A request of `texts` texts timed out: fewer and smaller requests from now on.
        Returns how long the server may still be computing it, to wait before re-sending."""
        with self._lock:
            self.in_flight = max(2, self.in_flight - 1)
            self.batch_size = max(1, self.batch_size // 2)
            self._climbing = False
            return (self.seconds_per_text or 0.0) * texts

    def _climb(self, texts: int) -> None:
        if not self._climbing or self.in_flight >= self.max_in_flight:
            return
        self._completions.append((time.monotonic(), texts))
        if len(self._completions) < 2 * self.in_flight + 1:
            return
        (first, _), (last, _) = self._completions[0], self._completions[-1]
        throughput = sum(n for _, n in self._completions[1:]) / max(last - first, 1e-9)
        self._completions.clear()
        if throughput > _GAIN * self._best_throughput:
            self._best_throughput = throughput
            self.in_flight += 1
        else:
            self.in_flight -= 1
            self._climbing = False


class RetryBudget:
    """Retries for a whole ingest; `spend` waits its backoff, or raises when spent."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self._lock = threading.Lock()
        self._in_a_row = 0
        self._answered = False

    def succeeded(self) -> None:
        with self._lock:
            self._in_a_row = 0
            self._answered = True

    def spend(self, error: Exception) -> None:
        """Wait before a retry of the request that failed with `error`; raise it when the
        budget is spent."""
        with self._lock:
            self._in_a_row += 1
            allowed = self.attempts * (_AFTER_SUCCESS if self._answered else 1)
            if self._in_a_row >= allowed:
                raise error
            wait = min(4.0, 0.2 * 2 ** (self._in_a_row - 1))
        time.sleep(wait * random.uniform(0.5, 1.0))
