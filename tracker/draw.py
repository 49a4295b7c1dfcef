"""Drawing tracks on frames and writing the annotated video."""
import colorsys

import cv2
import numpy as np

from reid.data.nyu40 import class_name


def track_colour_rgb(track_id):
    """A stable, distinct RGB colour per ID (golden-ratio hues), 0-255 ints."""
    hue = (track_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def track_colour(track_id):
    """:func:`track_colour_rgb` in BGR order (OpenCV drawing)."""
    return track_colour_rgb(track_id)[::-1]


def draw_tracks(rgb, tracks):
    """BGR image of ``rgb`` with each track's box, ID and class drawn."""
    image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    scale = max(0.3, image.shape[0] / 720)
    for track in tracks:
        x, y, w, h = (int(round(v)) for v in track.to_tlwh())
        colour = track_colour(track.track_id)
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, max(1, int(2 * scale)))
        text = f"{track.track_id} {class_name(track.label)}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(th + 2, y)
        cv2.rectangle(image, (x, top - th - 2), (x + tw + 2, top), colour, -1)
        cv2.putText(image, text, (x + 1, top - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return image


class VideoWriter:
    """An mp4 written frame by frame to a temporary name and renamed into place on :meth:`close`."""

    def __init__(self, path, fps=15.0):
        self.path = str(path)
        self.temporary = f"{self.path}.partial.mp4"
        self.fps = fps
        self.writer = None

    def write(self, image):
        if self.writer is None:
            height, width = image.shape[:2]
            self.size = (width, height)
            self.writer = cv2.VideoWriter(self.temporary, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self.size)
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size)
        self.writer.write(np.ascontiguousarray(image))

    def close(self):
        import os
        if self.writer is not None:
            self.writer.release()
            os.replace(self.temporary, self.path)
            self.writer = None
