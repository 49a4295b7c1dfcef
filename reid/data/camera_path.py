"""Hand-held camera paths that leave every region of a room and come back to it from elsewhere.

The camera walks through the room's free zone while turning round: each full turn ("sweep") starts
from another spot of the zone, so an object seen in one sweep leaves the view for most of a sweep
and is seen again, from another position, height and tilt, in the next one. Small smoothed noise on
position and rotation imitates a hand-held sensor.
"""
import numpy as np
from scipy.ndimage import gaussian_filter1d

from .geometry import look_at


def camera_path(rng, room, frames, sweep_frames=200, jitter_position=0.006, jitter_degrees=0.4):
    """Camera-to-world poses (OpenCV axes) along a smooth multi-sweep path.

    Parameters
    ----------
    rng : numpy.random.Generator
    room : reid.data.layout.Room
        Supplies the free zone ``camera_zone = (x, y, radius)`` and the ceiling height.
    frames : int
        Number of poses.
    sweep_frames : int
        Frames per full turn (at least two turns are made whatever the length).
    jitter_position : float
        Standard deviation of the hand-held position noise, metres.
    jitter_degrees : float
        Standard deviation of the hand-held rotation noise, degrees.

    Returns
    -------
    ndarray, frames x 4 x 4
    """
    sweeps = max(2, int(round(frames / sweep_frames)))
    cx, cy, radius = room.camera_zone
    start_angle = rng.uniform(0, 2 * np.pi)
    angles = start_angle + np.pi * np.arange(sweeps + 1) + rng.uniform(-0.6, 0.6, sweeps + 1)
    reach = radius * rng.uniform(0.5, 0.85, sweeps + 1)
    centres = np.stack([cx + reach * np.cos(angles), cy + reach * np.sin(angles)], axis=1)
    heights = rng.uniform(1.2, min(1.65, room.height - 0.6), sweeps + 1)

    t = np.arange(frames) * sweeps / max(frames, 1)  # sweep coordinate: 0 .. sweeps
    k = np.minimum(t.astype(int), sweeps - 1)
    f = t - k
    blend = (1 - np.cos(np.pi * f)) / 2
    xy = centres[k] * (1 - blend)[:, None] + centres[k + 1] * blend[:, None]
    drift = 0.15 * radius
    xy += drift * np.stack([np.sin(2 * np.pi * f), np.cos(2 * np.pi * f) - 1], axis=1)
    z = heights[k] * (1 - blend) + heights[k + 1] * blend

    direction = rng.choice([-1.0, 1.0])
    yaw = rng.uniform(0, 2 * np.pi) + direction * 2 * np.pi * t
    pitch = np.radians(-rng.uniform(12, 22) + 8 * np.sin(2 * np.pi * 0.6 * t + rng.uniform(0, 2 * np.pi)))

    def smooth_noise(scale, dims):
        noise = gaussian_filter1d(rng.normal(0, 1, (frames, dims)), sigma=3, axis=0, mode="nearest")
        return noise / max(noise.std(), 1e-9) * scale

    position = np.column_stack([xy, z]) + smooth_noise(jitter_position, 3)
    angle_noise = np.radians(smooth_noise(jitter_degrees, 3))
    yaw, pitch, roll = yaw + angle_noise[:, 0], pitch + angle_noise[:, 1], angle_noise[:, 2]

    poses = np.empty((frames, 4, 4))
    for i in range(frames):
        forward = np.array([np.cos(yaw[i]) * np.cos(pitch[i]), np.sin(yaw[i]) * np.cos(pitch[i]), np.sin(pitch[i])])
        pose = look_at(position[i], position[i] + forward)
        c, s = np.cos(roll[i]), np.sin(roll[i])
        pose[:3, :3] = pose[:3, :3] @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        poses[i] = pose
    return poses
