"""A token bucket, as AWS documents its request and launch rate limits."""

from __future__ import annotations


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; each request takes one."""

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._tokens = capacity
        self._at = 0.0

    def take(self, now: float) -> bool:
        """Take a token at ``now``; False when the bucket is empty (the request is throttled)."""
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def give_back(self, now: float) -> None:
        """Return a token taken for a request that was refused for another reason."""
        self._refill(now)
        self._tokens = min(self.capacity, self._tokens + 1)

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now
