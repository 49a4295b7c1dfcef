"""Writing results: MOTChallenge track files, atomically."""
import numpy as np

from reid.fileio import atomic_write_text


def reported_box(track):
    """The ``tlwh`` box reported for a track updated in a frame: the detection it took in this frame
    (``track.last_detection``), since the objects are static and only the camera moves, so the
    detector's box is where the object is; the Kalman estimate (``to_tlwh()``, used when there is no
    detection) serves association."""
    detection = getattr(track, "last_detection", None)
    return detection.tlwh if detection is not None else track.to_tlwh()


def mot_lines(frame_number, tracks):
    """MOTChallenge lines ``frame,id,x,y,w,h,score,-1,-1,-1`` for the tracks updated in a frame.

    The box is :func:`reported_box`. ``frame_number`` is 1-based (ScanNet frame index + 1).
    """
    lines = []
    for track in tracks:
        detection = getattr(track, "last_detection", None)
        x, y, w, h = reported_box(track)
        score = detection.score if detection is not None else 1.0
        lines.append(f"{frame_number},{track.track_id},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{score:.4f},-1,-1,-1")
    return lines


def write_mot(path, lines):
    """Write MOT lines (see :func:`mot_lines`) atomically."""
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def read_mot(path):
    """A MOTChallenge file as an N x 10 float array (empty file: 0 x 10)."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    return rows.reshape(-1, 10) if rows.size else np.zeros((0, 10))
