"""A bounded ring of the most recent appearance features of one target."""
import numpy as np


class FeatureBank:
    """The ``budget`` most recent L2-normalised features of one target, in a preallocated ring.

    Parameters
    ----------
    budget : int
        Maximum number of features kept; older ones are overwritten.

    Attributes
    ----------
    count : int
        Features stored (at most ``budget``).
    """

    def __init__(self, budget=100):
        if budget < 1:
            raise ValueError(f"feature bank budget must be >= 1, got {budget}")
        self.budget = int(budget)
        self._ring = None
        self._next = 0
        self.count = 0
        self._sum = None

    def __len__(self):
        return self.count

    def add(self, feature):
        """Store a (D,) float32 feature (expected L2-normalised), dropping the oldest when full."""
        feature = np.asarray(feature, dtype=np.float32)
        if self._ring is None:
            self._ring = np.zeros((self.budget, feature.size), dtype=np.float32)
            self._sum = np.zeros(feature.size, dtype=np.float64)
        if self.count == self.budget:
            self._sum -= self._ring[self._next]
        self._ring[self._next] = feature
        self._sum += feature
        self._next = (self._next + 1) % self.budget
        self.count = min(self.count + 1, self.budget)

    @property
    def features(self):
        """Stored features, KxD float32 (order not guaranteed); 0x0 when empty."""
        if self._ring is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self._ring[:self.count]

    def mean(self):
        """L2-normalised mean of the stored features, (D,) float32, or None when empty."""
        if not self.count:
            return None
        mean = self._sum / self.count
        norm = np.linalg.norm(mean)
        return (mean / norm).astype(np.float32) if norm > 0 else None
