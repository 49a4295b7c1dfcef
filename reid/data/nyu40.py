"""The NYU40 class table that ScanNet users read labels with.

Generated scenes write these ids straight into ``label-filt``; real ScanNet exports store ScanNet's
own category ids there, which :func:`reid.data.scannet.load_label_map` maps onto these.
"""

NYU40_CLASSES = {
    1: "wall", 2: "floor", 3: "cabinet", 4: "bed", 5: "chair", 6: "sofa", 7: "table", 8: "door",
    9: "window", 10: "bookshelf", 11: "picture", 12: "counter", 13: "blinds", 14: "desk",
    15: "shelves", 16: "curtain", 17: "dresser", 18: "pillow", 19: "mirror", 20: "floor mat",
    21: "clothes", 22: "ceiling", 23: "books", 24: "refridgerator", 25: "television", 26: "paper",
    27: "towel", 28: "shower curtain", 29: "box", 30: "whiteboard", 31: "person", 32: "night stand",
    33: "toilet", 34: "sink", 35: "lamp", 36: "bathtub", 37: "bag", 38: "otherstructure",
    39: "otherfurniture", 40: "otherprop",
}
"""NYU40 label id -> class name (ScanNet's ``nyu40class`` column)."""

NYU40_IDS = {name: label for label, name in NYU40_CLASSES.items()}
"""Class name -> NYU40 label id."""

STRUCTURE_LABELS = frozenset({1, 2, 22})
"""Wall, floor and ceiling: annotated in ScanNet, not tracked by default."""


def class_name(label):
    """Name of a NYU40 label id, or ``"label <id>"`` for an id outside the table."""
    return NYU40_CLASSES.get(int(label), f"label {int(label)}")
