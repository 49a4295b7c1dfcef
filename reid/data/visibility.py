"""Which instances a frame shows, and which instances come back after being out of view."""
from dataclasses import dataclass

import numpy as np


def min_visible_pixels(size, fraction=0.001, floor=8):
    """Pixels an instance needs in a (W, H) image to count as visible (0.1 % of the image, >= 8)."""
    return max(floor, int(round(fraction * size[0] * size[1])))


def visible_instances(instance, min_pixels):
    """Instance ids (> 0) covering at least ``min_pixels`` pixels of an instance image."""
    counts = np.bincount(instance.ravel())
    ids = np.nonzero(counts >= min_pixels)[0]
    return set(ids[ids > 0].tolist())


@dataclass(frozen=True)
class Revisit:
    """An instance out of view from the frame after ``last_seen`` until it is seen at ``back_at``."""

    instance_id: int
    last_seen: int
    back_at: int

    @property
    def gap(self):
        """Frames out of view (frame-index difference)."""
        return self.back_at - self.last_seen


def find_revisits(frame_ids, visible, min_gap=100):
    """Every return of an instance to the view after at least ``min_gap`` frames away.

    Parameters
    ----------
    frame_ids : sequence of int
        Frame indices, increasing.
    visible : sequence of set of int
        Instance ids visible in each of those frames.
    min_gap : int
        Least frame-index difference between the last sighting and the return.

    Returns
    -------
    list of Revisit, in order of return.
    """
    last_seen, revisits = {}, []
    for frame, ids in zip(frame_ids, visible):
        for instance_id in sorted(ids):
            previous = last_seen.get(instance_id)
            if previous is not None and frame - previous >= min_gap:
                revisits.append(Revisit(instance_id, previous, frame))
            last_seen[instance_id] = frame
    return revisits
