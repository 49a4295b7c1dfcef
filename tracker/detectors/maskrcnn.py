"""torchvision's Mask R-CNN (COCO) as a detector, its COCO classes mapped to NYU40."""
from pathlib import Path

import numpy as np
import torch

from ..detection import Detection

# COCO category names (torchvision's weights.meta["categories"]) -> NYU40 ids; others are skipped.
COCO_TO_NYU40 = {
    "chair": 5, "couch": 6, "bed": 4, "dining table": 7, "tv": 25, "laptop": 40, "book": 23, "cup": 40,
    "bottle": 40, "wine glass": 40, "bowl": 40, "potted plant": 40, "vase": 40, "clock": 40, "keyboard": 40,
    "mouse": 40, "remote": 40, "cell phone": 40, "teddy bear": 40, "toilet": 33, "sink": 34,
    "refrigerator": 24, "microwave": 40, "oven": 39, "toaster": 40, "backpack": 37, "handbag": 37,
    "suitcase": 37, "person": 31, "bench": 39, "umbrella": 40, "scissors": 40,
}


class WeightsNotFoundError(FileNotFoundError):
    """Mask R-CNN weights are neither in the torch hub cache nor at the given path."""


class MaskRCNNDetector:
    """Mask R-CNN R50-FPN from torchvision.

    Parameters
    ----------
    weights : str or Path, optional
        A local state-dict file. Without it, torchvision's COCO weights
        (``MaskRCNN_ResNet50_FPN_Weights.DEFAULT``) are loaded from the torch hub cache, the way
        torchvision users get them; nothing is downloaded here: when they are not cached, a clear
        error says where to put them.
    score_threshold : float
    device : str, optional
        ``cuda`` when available, else ``cpu``.
    """

    name = "maskrcnn"

    def __init__(self, weights=None, score_threshold=0.5, device=None):
        from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.score_threshold = score_threshold
        default = MaskRCNN_ResNet50_FPN_Weights.DEFAULT
        self.categories = default.meta["categories"]
        if weights is None:
            cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(default.url).name
            if not cached.is_file():
                raise WeightsNotFoundError(
                    f"Mask R-CNN COCO weights not found at {cached} and cannot be downloaded here; download "
                    f"{default.url} to that path (or run torchvision once online), or pass a local file")
            weights = cached
        weights = Path(weights)
        if not weights.is_file():
            raise WeightsNotFoundError(f"{weights}: Mask R-CNN weights file not found")
        model = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=len(self.categories))
        try:
            model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise WeightsNotFoundError(f"{weights}: not a Mask R-CNN state dict ({error})") from None
        self.model = model.eval().to(self.device)

    @torch.inference_mode()
    def __call__(self, frame):
        image = torch.from_numpy(np.ascontiguousarray(frame.rgb)).permute(2, 0, 1).float().div(255).to(self.device)
        output = self.model([image])[0]
        detections = []
        for box, score, category, mask in zip(output["boxes"].cpu().numpy(), output["scores"].cpu().numpy(),
                                              output["labels"].cpu().numpy(), output["masks"].cpu().numpy()):
            label = COCO_TO_NYU40.get(self.categories[int(category)])
            if score < self.score_threshold or label is None:
                continue
            tlwh = np.array([box[0], box[1], box[2] - box[0], box[3] - box[1]])
            detections.append(Detection(tlwh, float(score), label, mask=mask[0] > 0.5))
        return detections
