"""A rerun.io recording of a tracked scene, to look at in the rerun viewer (``rerun OUT/SCENE.rrd``).

:class:`SceneRecording` is called once per frame by ``python -m tracker.run --rerun OUT/SCENE.rrd``
(or by any loop over :meth:`tracker.Tracker.update`) and logs, on the timeline ``frame`` (the ScanNet
frame index):

==============================  ===================================================================
entity                          what
==============================  ===================================================================
``world``                       (static) the world's axes: ScanNet's right-handed, Z up
``world/camera``                the camera pose (``Transform3D``, camera-to-world), when known
``world/camera/image``          the colour camera's intrinsics (``Pinhole``) and image
``world/camera/image/tracks``   the tracks' boxes (``Boxes2D``, those of the MOT file) labelled
                                ``"ID class"``
``world/camera/depth``          the depth camera's intrinsics and depth image, when there is depth
``world/identities/<ID>``       each identity's world position (``Points3D``, one labelled point),
                                logged in the frames where it is seen: it stays where it was last seen
``world/camera_path``           (static, written by :meth:`close`) the camera trajectory
==============================  ===================================================================

The recording carries its layout (a blueprint, written by :meth:`close`): the 3D world on the left,
the colour image with the boxes and, when there is depth, the depth image on the right, the side
panels collapsed and the time cursor following the newest frame, so ``rerun OUT/SCENE.rrd`` opens
on the whole room as the run ended. Change it in the viewer as usual.

Each ID has one colour for the whole recording (:func:`tracker.draw.track_colour_rgb`, as in the mp4).
An identity given back its old ID from the long-term gallery is labelled ``"ID class (returned)"``
in the image and, from then on, in the world. Frames without a pose log no camera transform (the
viewer keeps the last known one); a scene without poses or depth gives the 2D entities only.

The rerun SDK is optional (``pip install rerun-sdk``); without it :class:`SceneRecording` raises an
ImportError saying so.
"""
from pathlib import Path

import numpy as np

from reid.data.nyu40 import class_name

from tracker.draw import track_colour_rgb
from tracker.io import reported_box

INSTALL_HINT = ("--rerun needs the rerun SDK: pip install rerun-sdk "
                "(or pip install 'where-did-i-see-it[viz]')")

RETURNED = " (returned)"
"""Suffix of the label of an identity that came back from the gallery."""

IDENTITY_RADIUS_METRES = 0.08

ENCODED_IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
"""Colour files logged as they are on disk (no decoding and re-encoding), by suffix."""


def import_rerun():
    """The ``rerun`` module; an ImportError with the install hint when it is missing."""
    try:
        import rerun
    except ModuleNotFoundError as error:
        if error.name not in (None, "rerun"):       # a package rerun needs, missing: say that one
            raise
        raise ImportError(INSTALL_HINT) from error
    return rerun


def track_label(track, returned=False):
    """``"ID class"``, with ``" (returned)"`` for an identity that came back from the gallery."""
    return f"{track.track_id} {class_name(track.label)}{RETURNED if returned else ''}"


class SceneRecording:
    """Log a tracked scene to a rerun ``.rrd`` file, frame by frame.

    Parameters
    ----------
    path : str or Path
        The ``.rrd`` file to write (its folder is created).
    scene_name : str
        The recording's name in the viewer.

    Raises
    ------
    ImportError
        When the rerun SDK is not installed (the message says how to install it).

    Examples
    --------
    >>> with SceneRecording("out/scene0000_00.rrd", "scene0000_00") as recording:   # doctest: +SKIP
    ...     for frame in scene.frames():
    ...         recording.log_frame(frame, tracker.update(detector(frame), frame=frame))
    """

    def __init__(self, path, scene_name):
        self.rr = import_rerun()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # a fresh recording id per run: two runs of one scene (today's, tomorrow's) open side by side
        self.stream = self.rr.RecordingStream(application_id="where-did-i-see-it")
        self.stream.save(str(self.path))
        self.stream.send_recording_name(scene_name)
        self.stream.log("world", self.rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)
        self.camera_positions = []
        self.returned_ids = set()
        self.has_depth = False
        self.identity_positions = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # ------------------------------------------------------------------ per frame
    def log_frame(self, frame, tracks):
        """Log one frame and the tracks the tracker gave for it.

        Parameters
        ----------
        frame : reid.data.scannet.Frame
            Or an object with ``index`` and ``rgb`` and, optionally, ``depth``, ``pose``,
            ``intrinsic_color``, ``intrinsic_depth`` and ``color_path``.
        tracks : list of tracker.track.Track
            The confirmed tracks updated in this frame (what :meth:`tracker.Tracker.update` returns).
        """
        self.stream.set_time("frame", sequence=int(frame.index))
        pose = getattr(frame, "pose", None)
        if pose is not None:
            self._log_pose(np.asarray(pose, dtype=np.float64))
        self._log_colour(frame)
        depth = getattr(frame, "depth", None)
        if depth is not None:
            self.has_depth = True
            self._log_depth(depth, getattr(frame, "intrinsic_depth", None), getattr(frame, "intrinsic_color", None),
                            frame.rgb.shape)
        self.returned_ids.update(track.track_id for track in tracks if track.from_gallery)
        self._log_boxes(tracks)
        self._log_identities(tracks)

    def _log_pose(self, pose):
        """The camera-to-world pose as the transform of ``world/camera``; its position kept for the path."""
        self.stream.log("world/camera", self.rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]))
        self.camera_positions.append(pose[:3, 3].copy())

    def _log_colour(self, frame):
        """The colour camera: its pinhole (when the intrinsics are known) and its image, as stored on
        disk when that is a JPEG or PNG file, else JPEG-compressed."""
        height, width = frame.rgb.shape[:2]
        intrinsics = getattr(frame, "intrinsic_color", None)
        if intrinsics is not None:
            self.stream.log("world/camera/image", self._pinhole(intrinsics, width, height))
        color_path = getattr(frame, "color_path", None)
        media_type = ENCODED_IMAGE_TYPES.get(Path(color_path).suffix.lower()) if color_path else None
        if media_type is not None:
            image = self.rr.EncodedImage(contents=Path(color_path).read_bytes(), media_type=media_type)
        else:
            image = self.rr.Image(frame.rgb, color_model="RGB").compress(jpeg_quality=90)
        self.stream.log("world/camera/image", image)

    def _log_depth(self, depth, intrinsic_depth, intrinsic_color, colour_shape):
        """The depth camera: pinhole (its own intrinsics, else the colour ones scaled to its size) and
        the depth image in millimetres (uint16)."""
        height, width = depth.shape[:2]
        if intrinsic_depth is None and intrinsic_color is not None:
            intrinsic_depth = np.diag([width / colour_shape[1], height / colour_shape[0], 1.0]) @ intrinsic_color
        if intrinsic_depth is not None:
            self.stream.log("world/camera/depth", self._pinhole(intrinsic_depth, width, height))
        millimetres = np.clip(np.nan_to_num(np.round(depth * 1000.0)), 0, np.iinfo(np.uint16).max).astype(np.uint16)
        self.stream.log("world/camera/depth", self.rr.DepthImage(millimetres, meter=1000.0))

    def _pinhole(self, intrinsics, width, height):
        return self.rr.Pinhole(image_from_camera=np.asarray(intrinsics, dtype=np.float64)[:3, :3],
                               resolution=[width, height], camera_xyz=self.rr.ViewCoordinates.RDF)

    def _log_boxes(self, tracks):
        """This frame's track boxes in the colour image (an empty batch when there are none)."""
        boxes = np.array([reported_box(track) for track in tracks], dtype=np.float64).reshape(-1, 4)
        self.stream.log("world/camera/image/tracks", self.rr.Boxes2D(
            array=boxes, array_format=self.rr.Box2DFormat.XYWH,
            labels=[track_label(track, track.from_gallery) for track in tracks],
            colors=np.array([track_colour_rgb(track.track_id) for track in tracks], dtype=np.uint8).reshape(-1, 3),
            show_labels=True))

    def _log_identities(self, tracks):
        """The world position of each identity seen in this frame, one entity per identity."""
        for track in tracks:
            position = track.world_position
            if position is None or not np.isfinite(position).all():
                continue
            self.identity_positions[track.track_id] = np.asarray(position, dtype=np.float64)
            self.stream.log(f"world/identities/{track.track_id}", self.rr.Points3D(
                [position], labels=[track_label(track, track.track_id in self.returned_ids)],
                colors=[track_colour_rgb(track.track_id)], radii=IDENTITY_RADIUS_METRES, show_labels=True))

    # ------------------------------------------------------------------ end
    def close(self):
        """Log the camera trajectory and the layout, and write everything to the file (safe to call twice)."""
        if self.stream is None:
            return
        if len(self.camera_positions) > 1:
            self.stream.log("world/camera_path", self.rr.LineStrips3D([np.array(self.camera_positions)]),
                            static=True)
        points = list(self.identity_positions.values()) + self.camera_positions
        self.stream.send_blueprint(default_blueprint(self.has_depth, np.array(points).reshape(-1, 3)),
                                   make_active=True, make_default=True)
        self.stream.flush()
        self.stream.disconnect()
        self.stream = None


def default_blueprint(has_depth, world_points):
    """The recording's layout.

    Parameters
    ----------
    has_depth : bool
        Show the depth image under the colour image.
    world_points : ndarray (N, 3)
        Camera and identity positions (metres); with none, no 3D view. The 3D view looks at their
        centre from above and behind the room (rerun >= 0.25; older SDKs frame it themselves), the
        time cursor follows the newest frame (rerun >= 0.24), the side panels are collapsed.
    """
    import rerun.blueprint as rrb

    images = [rrb.Spatial2DView(origin="world/camera/image", name="colour + tracks")]
    if has_depth:
        images.append(rrb.Spatial2DView(origin="world/camera/depth", name="depth"))
    column = rrb.Vertical(*images, row_shares=[3, 2][:len(images)])
    layout = column
    if len(world_points):
        low, high = world_points.min(axis=0), world_points.max(axis=0)
        centre, reach = (low + high) / 2, max(float(np.max(high - low)), 1.0)
        try:
            eye = rrb.EyeControls3D(position=centre + reach * np.array([-0.3, -0.9, 1.0]), look_target=centre,
                                    eye_up=[0.0, 0.0, 1.0])
            world = rrb.Spatial3DView(origin="world", name="world", eye_controls=eye)
        except (AttributeError, TypeError):   # rerun < 0.25: no eye in the blueprint
            world = rrb.Spatial3DView(origin="world", name="world")
        layout = rrb.Horizontal(world, column, column_shares=[3, 2])
    try:
        time_panel = rrb.TimePanel(state="collapsed", play_state="following")
    except TypeError:                       # rerun < 0.24: no play state in the blueprint
        time_panel = rrb.TimePanel(state="collapsed")
    return rrb.Blueprint(layout, rrb.BlueprintPanel(state="collapsed"), rrb.SelectionPanel(state="collapsed"),
                         time_panel)
