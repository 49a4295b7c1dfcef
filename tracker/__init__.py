"""Online tracker for static objects in indoor RGB-D video, with a long-term gallery.

    from tracker import Tracker, TrackerConfig, Detection, LongTermGallery
"""
from .detection import Detection
from .gallery import GalleryFileError, GalleryResult, LongTermGallery
from .track import Track, TrackState
from .tracker import Tracker, TrackerConfig

__all__ = ["Detection", "GalleryFileError", "GalleryResult", "LongTermGallery", "Track", "TrackState",
           "Tracker", "TrackerConfig"]
