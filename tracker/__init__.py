"""Online tracker for static objects in indoor RGB-D video, with a long-term gallery.

    from tracker import Tracker, TrackerConfig, Detection, LongTermGallery, complete_detections
"""
from .detection import Detection, complete_detections
from .gallery import FrameRange, GalleryFileError, GalleryResult, LongTermGallery
from .track import Track, TrackState
from .tracker import Tracker, TrackerConfig

__all__ = ["Detection", "FrameRange", "GalleryFileError", "GalleryResult", "LongTermGallery", "Track", "TrackState",
           "Tracker", "TrackerConfig", "complete_detections"]
