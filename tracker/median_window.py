"""The per-coordinate median of the most recent points, updated as points come and go."""
from bisect import bisect_left, insort
from collections import deque
from math import isnan

import numpy as np


class MedianWindow:
    """The ``size`` most recent D-dimensional points and their per-coordinate median.

    Each coordinate's values are kept sorted, so that adding a point costs O(size) (no sort, no numpy
    call) and reading the median is O(1); the median is the one ``np.median(points, axis=0)`` gives
    (mean of the two middle values for an even count; NaN for a coordinate with a NaN value).

    Parameters
    ----------
    size : int
        Points kept; the oldest is dropped when a new one comes (0 keeps none).
    dim : int
        Point dimension (3 for world positions in metres).
    """

    def __init__(self, size, dim=3):
        self.dim = int(dim)
        self._points = deque(maxlen=int(size))
        self._sorted = [[] for _ in range(self.dim)]
        self._nans = [0] * self.dim
        self._median = None

    def __len__(self):
        return len(self._points)

    def add(self, point):
        """Store a point, (D,) array-like (its values are copied)."""
        maxlen = self._points.maxlen
        if maxlen == 0:
            return
        values = self._values(point)
        if len(self._points) == maxlen:
            self._remove_values(self._points[0])
        self._points.append(values)
        for axis, value in enumerate(values):
            if isnan(value):
                self._nans[axis] += 1
            else:
                insort(self._sorted[axis], value)
        self._median = None

    def _values(self, point):
        if type(point) is np.ndarray and point.dtype == np.float64 and point.ndim == 1:
            values = point.tolist()
        else:
            values = np.asarray(point, dtype=np.float64).reshape(-1).tolist()
        if len(values) != self.dim:
            raise ValueError(f"point has {len(values)} values, expected {self.dim}")
        return values

    def _remove_values(self, values):
        for axis, value in enumerate(values):
            if isnan(value):
                self._nans[axis] -= 1
            else:
                column = self._sorted[axis]
                del column[bisect_left(column, value)]

    @property
    def points(self):
        """The stored points, oldest first: KxD."""
        return np.asarray(self._points, dtype=np.float64).reshape(-1, self.dim)

    @property
    def median(self):
        """Per-coordinate median of the stored points, (D,) float64 (read-only), or None when empty."""
        if self._median is None and self._points:
            count = len(self._points)
            middle = count // 2
            median = []
            for axis in range(self.dim):
                column = self._sorted[axis]
                if self._nans[axis]:
                    median.append(float("nan"))
                elif count % 2:
                    median.append(column[middle])
                else:
                    median.append((column[middle - 1] + column[middle]) / 2)
            self._median = np.array(median, dtype=np.float64)
            self._median.flags.writeable = False
        return self._median
