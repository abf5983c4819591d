"""A bounded, thread-safe cache of computed values, most recently used kept."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence


class LruCache:
    """Values by key, the `size` most recently used kept; requests on several threads may share one."""

    def __init__(self, size: int):
        self.size = size
        self._values: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def fetch(self, keys: Sequence[Hashable], compute: Callable[[list], Sequence]) -> dict:
        """The value of each key: cached, or `compute(missing keys)` (one call, values in their order), then
        kept. What is cached is copied out first, so that a concurrent request cannot evict it meanwhile."""
        with self._lock:
            known = {}
            for key in keys:
                if key in self._values:
                    self._values.move_to_end(key)
                    known[key] = self._values[key]
        missing = [key for key in dict.fromkeys(keys) if key not in known]
        if not missing:
            return known
        found = list(zip(missing, compute(missing), strict=True))
        known.update(found)
        with self._lock:
            self._values.update(found)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return known

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Hashable]:
        """The keys, least recently used first."""
        with self._lock:
            return iter(list(self._values))
