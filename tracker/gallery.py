"""Long-term gallery: every identity the tracker has confirmed, kept after its track is lost.

Answers two questions: "which old identity is this new detection?" (:meth:`LongTermGallery.match`,
same class, appearance plus a world-distance gate) and "where did I see it?"
(:meth:`LongTermGallery.query`: closest identities with the frames they were seen in and their world
position).

Memory and update cost grow with the number of identities, never with the number of frames: each
identity keeps a bounded ring of recent features, a running mean, a bounded ring of world positions
and a bounded list of frame ranges. Features live in one preallocated ``(capacity, bank_size, D)``
matrix grown by doubling, so an exact search is one matrix product, over the identities that the
class and world gates leave (a query is never compared with an identity it could not match).
"""
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from reid.fileio import atomic_output

from .linear_assignment import INFTY_COST, solve_assignment
from .world import point_distances

log = logging.getLogger("tracker")

FORMAT_VERSION = 1


SMALL_PRODUCT = 2 ** 24
"""Multiply-adds below which inner products skip BLAS (whose thread start-up then dominates)."""


def _per_query(value, n_queries):
    """A gate given for all queries or one per query, as an (n_queries, 1) float64 column."""
    if type(value) is float or type(value) is int:
        return np.full((n_queries, 1), float(value))
    value = np.asarray(value, dtype=np.float64)
    if value.shape != (n_queries,):
        value = np.broadcast_to(value, (n_queries,))
    return value[:, None]


def _inner_products(vectors, queries):
    """``vectors @ queries.T`` (NxD, QxD -> NxQ); small products without multi-threaded BLAS, which on
    a busy machine costs ~20x more than the arithmetic for a few thousand vectors."""
    if vectors.size * len(queries) < SMALL_PRODUCT:
        return np.einsum("nd,qd->nq", vectors, queries)
    return vectors @ queries.T


def _inner_products_by_query(vectors, queries):
    """``queries @ vectors.T`` (NxD, QxD -> QxN): the same values as :func:`_inner_products` gives
    transposed (einsum's sums do not depend on the output layout; BLAS's are those of the transposed
    product)."""
    if vectors.size * len(queries) < SMALL_PRODUCT:
        return np.einsum("nd,qd->qn", vectors, queries)
    return (vectors @ queries.T).T


class GalleryFileError(ValueError):
    """A gallery file that cannot be read; the message names the file."""


class GalleryModelError(GalleryFileError):
    """A gallery filled by another embedding model than the one given: its features and the new ones
    cannot be compared. The message names the file and both models."""


@dataclass(frozen=True)
class EmbeddingModelId:
    """The embedding model whose features fill a gallery.

    Attributes
    ----------
    name : str
        What it is called on the command line (``default``, ``variant:NAME`` or a checkpoint path).
    weights_sha256 : str
        SHA-256 of its weights (``reid.embedder.weights_sha256``): what decides whether two are the same.
    """

    name: str
    weights_sha256: str

    @classmethod
    def of(cls, embedder):
        """The id of a ``reid.embedder.Embedder`` (its ``name`` and ``weights_sha256``)."""
        return cls(str(embedder.name), str(embedder.weights_sha256))

    def __str__(self):
        return f"'{self.name}' (weights sha256 {self.weights_sha256[:12]})"


@dataclass
class GalleryResult:
    """One identity returned by :meth:`LongTermGallery.query` or :meth:`LongTermGallery.entry`.

    Attributes
    ----------
    track_id : int
    distance : float
        Cosine distance of the query to the identity's closest feature (NaN for :meth:`entry`).
    label : int
        NYU40 class id.
    world_position : ndarray (3,) metres, or None when never measured
    frames : list of (int, int)
        Inclusive frame ranges ``(first, last)`` where the identity was seen, in the order seen;
        adjacent ranges are merged when the list reaches its bound.
    n_observations : int
        Number of frames in which the identity was observed.
    """

    track_id: int
    distance: float
    label: int
    world_position: Optional[np.ndarray]
    frames: List[Tuple[int, int]]
    n_observations: int

    @property
    def first_frame(self):
        return min(first for first, _ in self.frames) if self.frames else None

    @property
    def last_frame(self):
        return max(last for _, last in self.frames) if self.frames else None


class LongTermGallery:
    """Identities with their class, recent features, world position and frames seen.

    Parameters
    ----------
    bank_size : int
        Most recent features kept per identity (besides the running mean of all of them).
    max_frame_ranges : int
        Bound on the stored frame ranges per identity; beyond it the two closest ranges merge.
    position_history : int
        Most recent world positions kept per identity; its position is their median.
    max_distance : float
        Default appearance (cosine) gate of :meth:`match`.
    world_gate_metres : float
        Default world-distance gate of :meth:`match`: farther known positions never match.
    world_weight : float
        Default cost per metre of world distance added to the appearance distance.
    index : {"exact", "faiss"}
        Search backend: exact numpy search, or a faiss inner-product index over the per-identity mean
        features that preselects ``faiss_candidates`` identities before the exact comparison (faiss
        is imported only then; without it the gallery warns and searches exactly).
    faiss_candidates : int
    initial_capacity : int
        Identities allocated up front; the storage doubles when full.

    Attributes
    ----------
    model : EmbeddingModelId or None
        The embedding model that filled the gallery, when recorded (saved and loaded with it; files
        written before it was recorded load with None).
    """

    def __init__(self, bank_size=100, max_frame_ranges=64, position_history=30, max_distance=0.3,
                 world_gate_metres=1.0, world_weight=0.5, index="exact", faiss_candidates=256,
                 initial_capacity=64):
        if bank_size < 1 or max_frame_ranges < 1 or position_history < 1:
            raise ValueError("bank_size, max_frame_ranges and position_history must be >= 1")
        if index not in ("exact", "faiss"):
            raise ValueError(f"index must be 'exact' or 'faiss', got {index!r}")
        self.bank_size = int(bank_size)
        self.max_frame_ranges = int(max_frame_ranges)
        self.position_history = int(position_history)
        self.max_distance = float(max_distance)
        self.world_gate_metres = float(world_gate_metres)
        self.world_weight = float(world_weight)
        self.faiss_candidates = int(faiss_candidates)
        self._faiss = None
        self._faiss_index = None
        self._faiss_dirty = True
        if index == "faiss":
            try:
                import faiss
                self._faiss = faiss
            except ImportError:
                log.warning("gallery: faiss requested but not installed, using exact search")
        self.feature_dim = None
        self.size = 0
        self.model = None
        self._row_of = {}
        self._allocate(max(1, int(initial_capacity)))

    def check_model(self, model, source="gallery"):
        """Refuse features of another embedding model; record ``model`` as the one filling the gallery.

        Parameters
        ----------
        model : EmbeddingModelId
            The model whose features will be compared with the stored ones.
        source : str
            What to call the gallery in messages (its file).

        Raises
        ------
        GalleryModelError
            When the gallery records another model (other weights), naming both.

        Notes
        -----
        A gallery without a recorded model (a file written before models were recorded) is accepted
        with a one-line warning, and takes ``model`` from then on.
        """
        if self.model is None:
            if self.size:
                log.warning("%s: no embedding model recorded (an older gallery file); assuming %s filled it",
                            source, model)
        elif self.model.weights_sha256 != model.weights_sha256:
            raise GalleryModelError(f"{source}: filled by the embedding model {self.model}, not by {model}; "
                                    f"use the same model (--reid) as the run that wrote it")
        self.model = model

    def __getstate__(self):
        """Picklable / deep-copyable state: the faiss module and index are left out (rebuilt on use)."""
        state = self.__dict__.copy()
        state["_faiss"] = state["_faiss"] is not None
        state["_faiss_index"] = None
        state["_faiss_dirty"] = True
        return state

    def __setstate__(self, state):
        use_faiss = state.pop("_faiss")
        self.__dict__.update(state)
        self._faiss = None
        if use_faiss:
            import faiss
            self._faiss = faiss

    # ------------------------------------------------------------------ storage
    def _allocate(self, capacity):
        self._ids = np.zeros(capacity, dtype=np.int64)
        self._labels = np.zeros(capacity, dtype=np.int64)
        self._bank_count = np.zeros(capacity, dtype=np.int64)
        self._bank_next = np.zeros(capacity, dtype=np.int64)
        self._mean_count = np.zeros(capacity, dtype=np.int64)
        self._position_ring = np.full((capacity, self.position_history, 3), np.nan)
        self._position_count = np.zeros(capacity, dtype=np.int64)
        self._position_next = np.zeros(capacity, dtype=np.int64)
        self._positions = np.full((capacity, 3), np.nan)
        self._positions_stale = np.zeros(capacity, dtype=bool)
        self._n_observations = np.zeros(capacity, dtype=np.int64)
        self._latest_range = np.zeros((capacity, 2), dtype=np.int64)
        self._has_range = np.zeros(capacity, dtype=bool)
        self._ranges = []
        self._bank = None
        self._mean_sum = None
        self._means = None
        if self.feature_dim is not None:
            self._allocate_features(capacity, self.feature_dim)

    def _allocate_features(self, capacity, dim):
        self._bank = np.zeros((capacity, self.bank_size, dim), dtype=np.float32)
        self._mean_sum = np.zeros((capacity, dim), dtype=np.float64)
        self._means = np.zeros((capacity, dim), dtype=np.float32)

    @property
    def capacity(self):
        return len(self._ids)

    def _grow(self):
        old = {name: getattr(self, name) for name in (
            "_ids", "_labels", "_bank_count", "_bank_next", "_mean_count", "_position_ring",
            "_position_count", "_position_next", "_positions", "_positions_stale", "_n_observations",
            "_latest_range", "_has_range", "_bank", "_mean_sum", "_means")}
        ranges = self._ranges
        self._allocate(2 * self.capacity)
        for name, array in old.items():
            if array is not None:
                getattr(self, name)[:len(array)] = array
        self._ranges = ranges

    def _row(self, track_id, label):
        row = self._row_of.get(track_id)
        if row is None:
            if self.size == self.capacity:
                self._grow()
            row = self.size
            self.size += 1
            self._row_of[track_id] = row
            self._ids[row] = track_id
            self._labels[row] = label
            self._ranges.append([])
        return row

    # ------------------------------------------------------------------ updates
    def __len__(self):
        return self.size

    def __contains__(self, track_id):
        return int(track_id) in self._row_of

    @property
    def ids(self):
        """Identities stored, (N,) int64, in insertion order."""
        return self._ids[:self.size].copy()

    @property
    def max_id(self):
        """Largest stored identity, or 0 when empty."""
        return int(self._ids[:self.size].max()) if self.size else 0

    def label_of(self, track_id):
        return int(self._labels[self._row_of[int(track_id)]])

    def add(self, track_id, label, feature=None, world_position=None, frame_index=None):
        """Record one observation of an identity (creating it if new). Cost: O(D + bounds).

        Parameters
        ----------
        track_id : int
        label : int
            NYU40 class; an identity keeps the class it was created with.
        feature : ndarray (D,), optional
            L2-normalised appearance feature.
        world_position : ndarray (3,), optional
            Metres.
        frame_index : int, optional
            Frame of the observation; counted in the identity's frame ranges.
        """
        track_id = int(track_id)
        row = self._row(track_id, int(label))
        if feature is not None:
            self._add_feature(row, np.asarray(feature, dtype=np.float32).reshape(-1))
        if world_position is not None:
            self._add_position(row, np.asarray(world_position, dtype=np.float64).reshape(3))
        if frame_index is not None:
            self._add_frame(row, int(frame_index))

    def add_many(self, track_ids, labels, features, world_positions, frame_indices):
        """Record several observations at once, as :meth:`add` one after the other would.

        Parameters
        ----------
        track_ids, labels : sequences of int, length N
        features : sequence of ((D,) ndarray or None), or ndarray NxD
        world_positions : sequence of ((3,) ndarray or None), or ndarray Nx3 (NaN rows: unknown)
        frame_indices : sequence of (int or None), or ndarray (N,) int

        Notes
        -----
        Observations given as arrays (the tracker's case: a batch of frames of its confirmed tracks,
        several observations per identity) are written in a few array operations; otherwise
        observations of distinct identities with a feature are written in one vectorised step and
        the rest go through :meth:`add` in order.
        """
        n = len(track_ids)
        dim = self.feature_dim
        if (dim is not None and type(features) is np.ndarray and features.shape == (n, dim)
                and type(world_positions) is np.ndarray and world_positions.shape == (n, 3)
                and type(frame_indices) is np.ndarray and frame_indices.shape == (n,)
                and frame_indices.dtype.kind in "iu"):
            # every field an array (the tracker's case): a few array operations for all observations
            rows, distinct = self._rows_of_ids(track_ids, labels)
            features = features.astype(np.float32, copy=False)
            positions = world_positions.astype(np.float64, copy=False)
            frame_indices = frame_indices.astype(np.int64, copy=False)
            if distinct == n:
                self._add_features(rows, features)
                self._add_position_array(rows, positions)
                self._add_frame_array(rows, frame_indices)
            else:
                self._add_observation_arrays(rows, features, positions, frame_indices)
            return
        row_of = self._row_of
        if type(features) is np.ndarray:
            features = list(features)
        if type(world_positions) is np.ndarray:
            world_positions = [p if np.isfinite(p).all() else None for p in world_positions.reshape(-1, 3)]
        if type(frame_indices) is np.ndarray:
            frame_indices = frame_indices.tolist()
        rows, batch_rows, batch_features, single = [], [], [], []
        seen = set()
        for i, (track_id, label) in enumerate(zip(track_ids, labels)):
            row = row_of.get(track_id) if type(track_id) is int else None
            if row is None:
                row = self._row(int(track_id), int(label))
            rows.append(row)
            feature = features[i]
            if feature is not None and row not in seen and self.feature_dim is not None \
                    and (feature.size if type(feature) is np.ndarray else np.size(feature)) == self.feature_dim:
                seen.add(row)
                batch_rows.append(row)
                batch_features.append(feature)
            elif feature is not None:
                single.append(i)
        if batch_rows:
            self._add_features(np.asarray(batch_rows, dtype=np.int64),
                               np.asarray(batch_features, dtype=np.float32).reshape(len(batch_rows), -1))
        for i in single:
            self._add_feature(rows[i], np.asarray(features[i], dtype=np.float32).reshape(-1))
        if len(set(rows)) == len(rows):
            self._add_positions(rows, world_positions)
            self._add_frames(rows, frame_indices)
            return
        for row, position, frame_index in zip(rows, world_positions, frame_indices):
            if position is not None:
                self._add_position(row, np.asarray(position, dtype=np.float64).reshape(3))
            if frame_index is not None:
                self._add_frame(row, int(frame_index))

    def _rows_of_ids(self, track_ids, labels):
        """Storage rows of identities, (N,) int64, creating the new ones in the order they first come
        (as :meth:`add` one after the other would); also returns the number of distinct identities."""
        ids = np.asarray(track_ids, dtype=np.int64).reshape(-1)
        distinct, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
        rows = np.empty(len(distinct), dtype=np.int64)
        row_of = self._row_of
        for j in np.argsort(first).tolist():
            track_id = int(distinct[j])
            row = row_of.get(track_id)
            rows[j] = row if row is not None else self._row(track_id, int(labels[int(first[j])]))
        return rows[inverse.reshape(-1)], len(distinct)

    def _add_observation_arrays(self, rows, features, positions, frame_indices):
        """Observations of known rows, several per row allowed, as :meth:`add` one after the other in
        the order given would record them.

        Parameters
        ----------
        rows : ndarray, (N,) int64
        features : ndarray, NxD float32
        positions : ndarray, Nx3 float64
            Metres; rows with a non-finite value are not recorded (as :meth:`_add_position`).
        frame_indices : ndarray, (N,) int64
        """
        order = np.argsort(rows, kind="stable")          # grouped by row, in the order given within a row
        rows, features, positions, frame_indices = rows[order], features[order], positions[order], frame_indices[order]
        self._add_grouped_features(rows, features)
        finite = np.isfinite(positions).all(axis=1)
        if finite.any():
            self._add_grouped_positions(rows[finite], positions[finite])
        self._add_grouped_frames(rows, frame_indices)

    @staticmethod
    def _groups(rows):
        """For rows sorted into groups: the distinct rows, each group's size, and each entry's rank in
        its group (0 for the first)."""
        first = np.flatnonzero(np.concatenate([[True], rows[1:] != rows[:-1]]))     # each group's first entry
        counts = np.diff(np.append(first, len(rows)))
        return rows[first], counts, np.arange(len(rows)) - np.repeat(first, counts)

    def _write_rings(self, ring, next_slot, count, rows, values):
        """Append each entry's value to its row's ring (``ring`` RxKx..., with the rows' next slots and
        fill counts), rows sorted into groups, in order within a group; returns the distinct rows and
        each group's size."""
        distinct, counts, rank = self._groups(rows)
        size = ring.shape[1]
        slots = (np.repeat(next_slot[distinct], counts) + rank) % size
        if counts.max() <= size:                                     # every entry stays
            ring[rows, slots] = values
        else:                                                        # only the last ``size`` stay in a ring
            kept = rank >= np.repeat(counts, counts) - size
            ring[rows[kept], slots[kept]] = values[kept]
        next_slot[distinct] = (next_slot[distinct] + counts) % size
        count[distinct] = np.minimum(count[distinct] + counts, size)
        return distinct, counts

    def _add_grouped_features(self, rows, values):
        """:meth:`_add_feature` for each entry, rows sorted into groups (order kept within a group)."""
        distinct, counts = self._write_rings(self._bank, self._bank_next, self._bank_count, rows, values)
        starts = np.cumsum(counts) - counts
        sums = self._mean_sum[distinct]
        every_group = int(counts.min())
        for step in range(int(counts.max())):                        # one after the other, as += would
            if step < every_group:
                sums += values[starts + step]
            else:
                taking = counts > step
                sums[taking] += values[starts[taking] + step]
        self._mean_sum[distinct] = sums
        self._mean_count[distinct] += counts
        self._refresh_means(distinct)

    def _add_grouped_positions(self, rows, positions):
        """:meth:`_add_position` for finite positions, rows sorted into groups."""
        distinct, _ = self._write_rings(self._position_ring, self._position_next, self._position_count, rows,
                                        positions)
        self._positions_stale[distinct] = True

    def _add_grouped_frames(self, rows, frame_indices):
        """:meth:`_add_frame` for each entry, rows sorted into groups. A group whose frames all extend
        its latest range one after the other (the tracker's case: consecutive frames) is written at
        once; any other group goes through :meth:`_add_frame` entry by entry."""
        distinct, counts, rank = self._groups(rows)
        group = np.repeat(np.arange(len(distinct)), counts)
        latest = self._latest_range[distinct]
        # the frame each entry must extend: the latest range's end for the first entry of a group, the
        # previous entry's frame for the others (frames that never go back make that the range's end)
        previous = np.where(rank == 0, latest[group, 1], np.concatenate([[0], frame_indices[:-1]]))
        extends = (self._has_range[distinct][group] & (latest[group, 0] <= frame_indices)
                   & (frame_indices <= previous + 1) & (frame_indices >= np.where(rank == 0, latest[group, 0], previous)))
        simple = np.ones(len(distinct), dtype=bool)
        np.logical_and.at(simple, group, extends)
        if simple.any():
            ends = np.maximum.reduceat(frame_indices, np.cumsum(counts) - counts)
            chosen = distinct[simple]
            self._latest_range[chosen, 1] = np.maximum(latest[simple, 1], ends[simple])
            self._n_observations[chosen] += counts[simple]
        if not simple.all():
            for entry in np.flatnonzero(~simple[group]).tolist():
                self._add_frame(int(rows[entry]), int(frame_indices[entry]))

    def _add_features(self, batch, values):
        """:meth:`_add_feature` for distinct rows at once: ``batch`` (N,) int64, ``values`` NxD float32."""
        slots = self._bank_next[batch]
        self._bank[batch, slots] = values
        self._bank_next[batch] = (slots + 1) % self.bank_size
        self._bank_count[batch] = np.minimum(self._bank_count[batch] + 1, self.bank_size)
        self._mean_sum[batch] += values
        self._mean_count[batch] += 1
        self._refresh_means(batch)

    def _refresh_means(self, rows):
        """Normalise the running sums of distinct rows into their mean features (after new features)."""
        sums = self._mean_sum[rows]
        norms = np.sqrt(np.square(sums).sum(axis=1, keepdims=True))        # np.linalg.norm's sums
        positive = norms[:, 0] > 0
        self._means[rows[positive]] = sums[positive] / norms[positive]
        self._faiss_dirty = True

    def _add_positions(self, rows, world_positions):
        """:meth:`_add_position` for distinct rows at once (``None`` positions skipped)."""
        placed = [k for k, position in enumerate(world_positions) if position is not None]
        if not placed:
            return
        positions = [world_positions[k] for k in placed]
        if all(type(position) is np.ndarray and position.shape == (3,) for position in positions):
            positions = np.array(positions, dtype=np.float64)
        else:
            positions = np.array([np.asarray(p, dtype=np.float64).reshape(3) for p in positions])
        self._add_position_array(np.asarray(rows, dtype=np.int64)[placed], positions)

    def _add_position_array(self, rows, positions):
        """:meth:`_add_position` for distinct rows (R,) int64 at once, positions Rx3 float64 (rows
        with a non-finite value skipped)."""
        finite = np.isfinite(positions).all(axis=1)
        if not finite.all():
            rows, positions = rows[finite], positions[finite]
        slots = self._position_next[rows]
        self._position_ring[rows, slots] = positions
        self._position_next[rows] = (slots + 1) % self.position_history
        self._position_count[rows] = np.minimum(self._position_count[rows] + 1, self.position_history)
        self._positions_stale[rows] = True

    def _add_frames(self, rows, frame_indices):
        """:meth:`_add_frame` for distinct rows at once (``None`` frames skipped)."""
        counted = [k for k, frame_index in enumerate(frame_indices) if frame_index is not None]
        if counted:
            self._add_frame_array(np.asarray(rows, dtype=np.int64)[counted],
                                  np.array([int(frame_indices[k]) for k in counted], dtype=np.int64))

    def _add_frame_array(self, rows, frame_indices):
        """:meth:`_add_frame` for distinct rows (R,) int64 at once, frames (R,) int64."""
        latest = self._latest_range[rows]
        extends = self._has_range[rows] & (latest[:, 0] <= frame_indices) & (frame_indices <= latest[:, 1] + 1)
        self._latest_range[rows[extends], 1] = np.maximum(latest[extends, 1], frame_indices[extends])
        if not extends.all():
            for row, frame_index in zip(rows[~extends].tolist(), frame_indices[~extends].tolist()):
                self._add_range(row, frame_index)
        self._n_observations[rows] += 1

    def _add_feature(self, row, feature):
        if self.feature_dim is None:
            self.feature_dim = feature.size
            self._allocate_features(self.capacity, feature.size)
        if feature.size != self.feature_dim:
            raise ValueError(f"feature of length {feature.size}, the gallery holds {self.feature_dim}")
        slot = self._bank_next[row]
        self._bank[row, slot] = feature
        self._bank_next[row] = (slot + 1) % self.bank_size
        self._bank_count[row] = min(self._bank_count[row] + 1, self.bank_size)
        self._mean_sum[row] += feature
        self._mean_count[row] += 1
        norm = np.linalg.norm(self._mean_sum[row])
        if norm > 0:
            self._means[row] = self._mean_sum[row] / norm
        self._faiss_dirty = True

    def _add_position(self, row, position):
        if not np.isfinite(position).all():
            return
        slot = self._position_next[row]
        self._position_ring[row, slot] = position
        self._position_next[row] = (slot + 1) % self.position_history
        self._position_count[row] = min(self._position_count[row] + 1, self.position_history)
        self._positions_stale[row] = True       # the median is recomputed when it is next read

    def _fresh_positions(self, rows):
        """Median positions of ``rows`` (R,) -> Rx3, recomputing the stale ones: one ``np.median`` per
        distinct ring fill count, so that adding a position costs O(1) and a search O(stale rows)."""
        rows = np.asarray(rows, dtype=np.int64)
        stale = rows[self._positions_stale[rows]]
        if len(stale):
            counts = self._position_count[stale]
            for count in np.unique(counts):
                group = stale[counts == count]
                self._positions[group] = np.median(self._position_ring[group, :count], axis=1)
            self._positions_stale[stale] = False
        return self._positions[rows]

    def _add_frame(self, row, frame_index):
        self._n_observations[row] += 1
        latest = self._latest_range[row]
        if self._has_range[row] and latest[0] <= frame_index <= latest[1] + 1:
            latest[1] = max(latest[1], frame_index)
            return
        self._add_range(row, frame_index)

    def _add_range(self, row, frame_index):
        """A new frame range ``[frame_index, frame_index]`` for a row; the closest two merge beyond
        ``max_frame_ranges``.

        A row's ranges are its closed ones (``_ranges[row]``, a list) and the latest one
        (``_latest_range[row]``, which the frames of the next observations extend).
        """
        ranges = self._ranges[row]
        if self._has_range[row]:
            ranges.append(self._latest_range[row].tolist())
        ranges.append([frame_index, frame_index])
        if len(ranges) > self.max_frame_ranges:
            gaps = [abs(ranges[i + 1][0] - ranges[i][1]) for i in range(len(ranges) - 1)]
            i = int(np.argmin(gaps))
            ranges[i] = [min(ranges[i][0], ranges[i + 1][0]), max(ranges[i][1], ranges[i + 1][1])]
            del ranges[i + 1]
        self._latest_range[row] = ranges.pop()
        self._has_range[row] = True

    def _row_ranges(self, row):
        """All frame ranges of a row, ``[[first, last], ...]`` in the order seen."""
        ranges = [list(r) for r in self._ranges[row]]
        if self._has_range[row]:
            ranges.append(self._latest_range[row].tolist())
        return ranges

    # ------------------------------------------------------------------ reading
    def world_position(self, track_id):
        """Median recent world position of an identity, (3,) metres, or None."""
        position = self._fresh_positions([self._row_of[int(track_id)]])[0]
        return position.copy() if np.isfinite(position).all() else None

    def features(self, track_id):
        """Stored recent features of an identity, KxD float32 (K <= bank_size)."""
        row = self._row_of[int(track_id)]
        if self._bank is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self._bank[row, :self._bank_count[row]].copy()

    def mean_feature(self, track_id):
        """L2-normalised running mean of all features of an identity, (D,), or None."""
        row = self._row_of[int(track_id)]
        return self._means[row].copy() if self._mean_count[row] else None

    def frames(self, track_id):
        """Frame ranges ``[(first, last), ...]`` where an identity was seen."""
        return [tuple(r) for r in self._row_ranges(self._row_of[int(track_id)])]

    def entry(self, track_id):
        """Everything known about one identity, as a :class:`GalleryResult` (distance NaN)."""
        return self._result(self._row_of[int(track_id)], float("nan"))

    def _result(self, row, distance):
        track_id = int(self._ids[row])
        return GalleryResult(track_id=track_id, distance=float(distance), label=int(self._labels[row]),
                             world_position=self.world_position(track_id), frames=self.frames(track_id),
                             n_observations=int(self._n_observations[row]))

    # ------------------------------------------------------------------ search
    def _candidate_rows(self, queries, excluded=()):
        """Rows worth comparing: all, or a faiss preselection of the ``faiss_candidates`` closest mean
        features per query among the rows not ``excluded`` (excluded rows take no place in it, so the
        preselection does not depend on them: the live identities, whose latest observations may not
        be written yet)."""
        if self._faiss is None or self._bank is None or self.size <= self.faiss_candidates:
            return np.arange(self.size)
        if self._faiss_dirty or self._faiss_index is None:
            index = self._faiss.IndexFlatIP(self.feature_dim)
            index.add(np.ascontiguousarray(self._means[:self.size]))
            self._faiss_index, self._faiss_dirty = index, False
        wanted = self.faiss_candidates
        _, found = self._faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32),
                                            min(self.size, wanted + len(excluded)))
        if len(excluded):
            allowed = (found >= 0) & ~np.isin(found, np.asarray(excluded, dtype=np.int64))
            # per query, the first ``wanted`` allowed rows in the order faiss ranks them
            allowed &= np.cumsum(allowed, axis=1) <= wanted
            return np.unique(found[allowed]).astype(np.int64)
        rows = np.unique(found[found >= 0])
        return rows.astype(np.int64)

    def appearance_distances(self, queries, rows=None):
        """Cosine distance of each query to each identity's closest stored feature or mean.

        Parameters
        ----------
        queries : ndarray, QxD
            L2-normalised features.
        rows : ndarray of int, optional
            Storage rows to compare (all by default).

        Returns
        -------
        ndarray, QxR float
            In [0, 2]; NaN where the identity has no feature.
        """
        queries = np.asarray(queries, dtype=np.float32).reshape(len(queries), -1)
        rows = np.arange(self.size) if rows is None else np.asarray(rows, dtype=np.int64)
        distances = np.full((len(queries), len(rows)), np.nan)
        if self._bank is None or not len(rows) or not len(queries):
            return distances
        if queries.shape[1] != self.feature_dim:
            raise ValueError(f"query features of length {queries.shape[1]}, the gallery holds "
                             f"{self.feature_dim}")
        if len(rows) == self.size and self.size:
            bank = self._bank[:self.size]            # a view: no copy of the whole bank
        else:
            bank = self._bank[rows]
        n_rows = len(rows)
        counts = self._bank_count[rows]
        # Q x R x K with each bank's K products contiguous, so that the max over a bank reads them in a row
        if bank.size * len(queries) < SMALL_PRODUCT:
            # one small product per identity (no BLAS threads), R x Q x K seen as Q x R x K
            similarity = np.matmul(queries, bank.transpose(0, 2, 1)).transpose(1, 0, 2)
        else:
            # one large query-major product (Q x R*K, the same sums as R*K x Q)
            similarity = _inner_products_by_query(bank.reshape(n_rows * self.bank_size, -1), queries).reshape(
                len(queries), n_rows, self.bank_size)
        if (counts < self.bank_size).any():
            filled = np.arange(self.bank_size)[None, :] < counts[:, None]
            similarity = np.where(filled[None, :, :], similarity, -np.inf)
        similarity = similarity.max(axis=2)                                               # Q x R
        similarity = np.maximum(similarity, _inner_products_by_query(self._means[rows], queries))
        has_feature = self._mean_count[rows] > 0
        if has_feature.all():
            return np.minimum(np.maximum(1.0 - similarity, 0.0), 2.0)
        distances[:, has_feature] = np.minimum(np.maximum(1.0 - similarity[:, has_feature], 0.0), 2.0)
        return distances

    @staticmethod
    def _normalized_queries(features, with_feature):
        """The queries' features (those of rows ``with_feature``) stacked and scaled to unit length: QxD."""
        queries = np.array([features[q] for q in with_feature], dtype=np.float32)
        queries /= np.sqrt(np.square(queries).sum(axis=1))[:, None]       # np.linalg.norm's sums
        return queries

    def cost_matrix(self, features, labels, world_positions=None, exclude_ids=(), max_distance=None,
                    world_gate_metres=None, world_weight=None, unplaced_max_distance=None):
        """Matching cost of queries against the stored identities.

        ``cost = appearance distance + world_weight * world distance (metres)``. A pair is forbidden
        (``INFTY_COST``) when the classes differ, the identity is excluded, the appearance distance
        exceeds ``max_distance``, or both world positions are known and farther apart than
        ``world_gate_metres``. When either side has no feature, a pair is allowed only when both
        world positions are known (within the gate), and its appearance term is ``max_distance``.

        Parameters
        ----------
        features : sequence of ((D,) ndarray or None), length Q
        labels : sequence of int, length Q
        world_positions : sequence of ((3,) ndarray or None), optional
        exclude_ids : iterable of int
            Identities that may not match (the live tracks).
        max_distance, world_weight : float or sequence of float (one per query), optional
            Override the gallery's defaults (appearance gate; cost per metre of world distance).
        unplaced_max_distance : float, optional
            A tighter appearance gate for pairs whose world distance is unknown (default: none, the
            same gate for every pair).
        world_gate_metres : float or sequence of float (one per query), optional
            Overrides the gallery's default world gate.

        Returns
        -------
        ids : ndarray, (R,) int64
            Candidate identities (columns).
        cost : ndarray, QxR float
        """
        n_queries = len(labels)
        labels = np.asarray(labels, dtype=np.int64).reshape(n_queries)
        if world_positions is None:
            world_positions = [None] * n_queries
        # the cheap gates first (class, exclusion, world distance): appearance only where a pair may
        # still match, and nothing more when no pair can
        stored_labels = self._labels[:self.size]
        wanted_labels = set(labels.tolist())
        if len(wanted_labels) <= 8:
            keep = np.zeros(self.size, dtype=bool)
            for label in wanted_labels:
                keep |= stored_labels == label
        else:
            keep = np.isin(stored_labels, labels)
        with_feature = [q for q in range(n_queries) if features[q] is not None]
        searchable = bool(with_feature) and self._bank is not None
        every_row = not searchable or self._faiss is None
        queries = None
        if every_row:
            rows = np.flatnonzero(keep)
            if len(rows):                        # the excluded identities among the rows of the classes
                exclude = exclude_ids if isinstance(exclude_ids, (set, frozenset)) else set(map(int, exclude_ids))
                if exclude:
                    rows = rows[np.array([i not in exclude for i in self._ids[rows].tolist()], dtype=bool)]
        else:
            row_of = self._row_of
            excluded = [row for row in map(row_of.get, map(int, exclude_ids)) if row is not None]
            keep[excluded] = False
            queries = self._normalized_queries(features, with_feature)
            candidates = self._candidate_rows(queries, excluded)
            every_row = len(candidates) == self.size
            rows = candidates[keep[candidates]]
        cost = np.full((n_queries, len(rows)), INFTY_COST)
        if not len(rows):
            return self._ids[rows].copy(), cost
        positions = np.full((n_queries, 3), np.nan)
        for q, position in enumerate(world_positions):
            if position is not None:
                positions[q] = position
        world = point_distances(positions, self._fresh_positions(rows))     # QxR metres
        world_known = np.isfinite(world)
        allowed = (labels[:, None] == self._labels[rows][None, :])
        allowed &= ~world_known | (world <= _per_query(
            self.world_gate_metres if world_gate_metres is None else world_gate_metres, n_queries))
        if not allowed.any():
            return self._ids[rows].copy(), cost
        if searchable and queries is None:
            queries = self._normalized_queries(features, with_feature)
        max_distance = _per_query(self.max_distance if max_distance is None else max_distance, n_queries)
        world_weight = _per_query(self.world_weight if world_weight is None else world_weight, n_queries)
        appearance = np.full((n_queries, len(rows)), np.nan)
        if searchable:
            columns = np.flatnonzero((allowed if len(with_feature) == n_queries else allowed[with_feature]).any(axis=0))
            if len(columns):
                searched = rows[columns]
                if every_row and 2 * len(searched) > self.size:
                    # most rows: all at once through a view of the bank, then keep the wanted columns
                    distances = self.appearance_distances(queries)[:, searched]
                else:
                    distances = self.appearance_distances(queries, searched)
                appearance[np.ix_(with_feature, columns)] = distances
        appearance_known = np.isfinite(appearance)
        unplaced_gate = max_distance if unplaced_max_distance is None else np.minimum(max_distance,
                                                                                       unplaced_max_distance)
        allowed &= np.where(appearance_known, appearance <= np.where(world_known, max_distance, unplaced_gate),
                            world_known)
        total = np.where(appearance_known, appearance, max_distance)
        total = total + world_weight * np.where(world_known, world, 0.0)
        cost[allowed] = total[allowed]
        return self._ids[rows].copy(), cost

    def assign(self, features, labels, world_positions=None, exclude_ids=(), **gates):
        """One-to-one assignment of several queries to stored identities (lap.lapjv).

        Arguments as in :meth:`cost_matrix`. Returns a list, one entry per query, of
        ``(track_id, cost)`` or None.
        """
        ids, cost = self.cost_matrix(features, labels, world_positions, exclude_ids, **gates)
        result = [None] * len(labels)
        if not (cost < INFTY_COST / 2).any():             # no pair within the gates (a new object)
            return result
        matches, _, _ = solve_assignment(cost, INFTY_COST / 2)
        for query, column in matches:
            result[query] = (int(ids[column]), float(cost[query, column]))
        return result

    def match(self, feature, label, world_position=None, exclude_ids=(), **gates):
        """The stored identity a detection most likely is, or None.

        Parameters
        ----------
        feature : ndarray (D,) or None
            L2-normalised appearance feature.
        label : int
            Only identities of this class can match.
        world_position : ndarray (3,), optional
            Metres; with a known stored position farther than the world gate, never a match.
        exclude_ids : iterable of int
            Identities that may not be returned (e.g. the live tracks).
        **gates
            ``max_distance``, ``world_gate_metres``, ``world_weight``, ``unplaced_max_distance`` overrides.

        Returns
        -------
        (int, float) or None
            ``(track_id, cost)`` of the cheapest allowed identity.
        """
        ids, cost = self.cost_matrix([feature], [label], [world_position], exclude_ids, **gates)
        if not len(ids) or cost.min() >= INFTY_COST:
            return None
        column = int(np.argmin(cost[0]))
        return int(ids[column]), float(cost[0, column])

    def query(self, feature, label=None, k=5):
        """Where did I see it? The ``k`` identities whose appearance is closest to ``feature``.

        Parameters
        ----------
        feature : ndarray (D,)
            L2-normalised query feature (e.g. from the same embedder as the tracker's).
        label : int, optional
            Restrict to one class.
        k : int

        Returns
        -------
        list of GalleryResult
            Closest first; identities without features are left out.
        """
        if self._bank is None or not self.size:
            return []
        query = np.asarray(feature, dtype=np.float32).reshape(1, -1)
        query = query / np.linalg.norm(query)
        rows = self._candidate_rows(query)
        if label is not None:
            rows = rows[self._labels[rows] == int(label)]
        distances = self.appearance_distances(query, rows)[0]
        order = [i for i in np.argsort(distances, kind="stable") if np.isfinite(distances[i])][:k]
        return [self._result(rows[i], distances[i]) for i in order]

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the gallery to one ``.npz`` file, atomically (temporary file + ``os.replace``)."""
        path = Path(path)
        n = self.size
        dim = self.feature_dim or 0
        row_ranges = [self._row_ranges(row) for row in range(n)]
        offsets = np.cumsum([0] + [len(r) for r in row_ranges]).astype(np.int64)
        ranges = np.array([r for rs in row_ranges for r in rs], dtype=np.int64).reshape(-1, 2)
        arrays = {
            "format_version": np.int64(FORMAT_VERSION),
            "settings": np.array([self.bank_size, self.max_frame_ranges, self.position_history], dtype=np.int64),
            "gates": np.array([self.max_distance, self.world_gate_metres, self.world_weight]),
            "ids": self._ids[:n], "labels": self._labels[:n],
            "bank": self._bank[:n] if self._bank is not None else np.zeros((n, self.bank_size, 0), np.float32),
            "bank_count": self._bank_count[:n], "bank_next": self._bank_next[:n],
            "mean_sum": self._mean_sum[:n] if self._mean_sum is not None else np.zeros((n, 0)),
            "mean_count": self._mean_count[:n],
            "position_ring": self._position_ring[:n], "position_count": self._position_count[:n],
            "position_next": self._position_next[:n], "n_observations": self._n_observations[:n],
            "range_offsets": offsets, "ranges": ranges,
            "feature_dim": np.int64(dim),
        }
        if self.model is not None:
            arrays["model_name"] = np.array(self.model.name)
            arrays["model_weights_sha256"] = np.array(self.model.weights_sha256)
        with atomic_output(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        return path

    @classmethod
    def load(cls, path, **overrides):
        """Read a gallery written by :meth:`save`.

        Parameters
        ----------
        path : str or Path
        **overrides
            Constructor arguments that replace the stored gates (``max_distance``, ``index``, ...).

        Raises
        ------
        FileNotFoundError
            No such file.
        GalleryFileError
            The file is not a readable gallery (the message names it).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: gallery file not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise GalleryFileError(f"{path}: not a gallery file ({error})") from error
        version = int(arrays["format_version"]) if arrays.get("format_version", np.zeros(0)).size == 1 else None
        if version is None:
            raise GalleryFileError(f"{path}: not a gallery file (no format version)")
        if version != FORMAT_VERSION:
            raise GalleryFileError(f"{path}: gallery file format version {version}; this version of the tracker "
                                   f"reads version {FORMAT_VERSION} only")
        try:
            return cls._from_arrays(arrays, overrides)
        except (KeyError, ValueError, IndexError, TypeError) as error:
            raise GalleryFileError(f"{path}: corrupt or incompatible gallery file ({error!r})") from error

    @classmethod
    def _from_arrays(cls, arrays, overrides):
        version = int(arrays["format_version"])
        if version != FORMAT_VERSION:
            raise ValueError(f"format version {version}, this code reads {FORMAT_VERSION}")
        bank_size, max_frame_ranges, position_history = (int(v) for v in arrays["settings"])
        max_distance, world_gate_metres, world_weight = (float(v) for v in arrays["gates"])
        settings = dict(bank_size=bank_size, max_frame_ranges=max_frame_ranges,
                        position_history=position_history, max_distance=max_distance,
                        world_gate_metres=world_gate_metres, world_weight=world_weight)
        settings.update(overrides)
        n = len(arrays["ids"])
        gallery = cls(initial_capacity=max(n, 1), **settings)
        dim = int(arrays["feature_dim"])
        expected = {
            "labels": (n,), "bank": (n, bank_size, dim), "bank_count": (n,), "bank_next": (n,),
            "mean_sum": (n, dim), "mean_count": (n,), "position_ring": (n, position_history, 3),
            "position_count": (n,), "position_next": (n,), "n_observations": (n,), "range_offsets": (n + 1,),
        }
        for key, shape in expected.items():
            if arrays[key].shape != shape:
                raise ValueError(f"{key} has shape {arrays[key].shape}, expected {shape}")
        ids = arrays["ids"].astype(np.int64)
        if len(set(ids.tolist())) != n:
            raise ValueError("duplicate identities")
        if dim:
            gallery.feature_dim = dim
            gallery._allocate_features(gallery.capacity, dim)
            gallery._bank[:n] = arrays["bank"]
            gallery._mean_sum[:n] = arrays["mean_sum"]
            norms = np.linalg.norm(arrays["mean_sum"], axis=1, keepdims=True)
            gallery._means[:n] = np.where(norms > 0, arrays["mean_sum"] / np.where(norms > 0, norms, 1), 0)
        gallery._ids[:n] = ids
        gallery._labels[:n] = arrays["labels"]
        for key in ("bank_count", "bank_next", "mean_count", "position_ring", "position_count",
                    "position_next", "n_observations"):
            getattr(gallery, "_" + key)[:n] = arrays[key]
        offsets, ranges = arrays["range_offsets"], arrays["ranges"].reshape(-1, 2)
        gallery._ranges = [ranges[offsets[i]:offsets[i + 1]].tolist() for i in range(n)]
        for row, row_ranges in enumerate(gallery._ranges):       # the latest range lives in the arrays
            if row_ranges:
                gallery._latest_range[row] = row_ranges.pop()
                gallery._has_range[row] = True
        gallery._positions_stale[:n] = gallery._position_count[:n] > 0     # medians computed when read
        gallery._row_of = {int(track_id): row for row, track_id in enumerate(ids)}
        gallery.size = n
        if "model_weights_sha256" in arrays:
            gallery.model = EmbeddingModelId(str(arrays["model_name"].item()),
                                             str(arrays["model_weights_sha256"].item()))
        return gallery
