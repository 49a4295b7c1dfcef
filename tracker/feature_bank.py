"""A bounded ring of the most recent appearance features of one target."""
from .track_store import TrackStore


class FeatureBank:
    """The ``budget`` most recent L2-normalised features of one target, in a preallocated ring.

    The ring is one row of a :class:`~tracker.track_store.TrackStore`: a bank of its own when made
    directly, a row of the tracker's shared store for a live track (so that all tracks' banks are
    written and searched at once).

    Parameters
    ----------
    budget : int
        Maximum number of features kept; older ones are overwritten.
    store : TrackStore, optional
        Storage holding the ring (with ``row``); a new one-row store by default.
    row : int, optional

    Attributes
    ----------
    count : int
        Features stored (at most ``budget``).
    """

    def __init__(self, budget=100, store=None, row=None):
        if store is None:
            store = TrackStore(budget, world_history=0, capacity=1)
            row = store.acquire()
        self._store = store
        self._row = row

    @property
    def budget(self):
        return self._store.feature_budget

    @property
    def count(self):
        return int(self._store.feature_count[self._row])

    def __len__(self):
        return self.count

    def add(self, feature):
        """Store a (D,) float32 feature (expected L2-normalised), dropping the oldest when full."""
        self._store.add_feature(self._row, feature)

    @property
    def features(self):
        """Stored features, KxD float32 (order not guaranteed); 0x0 when empty."""
        return self._store.features(self._row)

    def mean(self):
        """L2-normalised mean of the stored features, (D,) float32, or None when empty."""
        return self._store.mean_feature(self._row)
