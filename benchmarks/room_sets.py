"""Labelled sets of rooms for the harnesses: ``--data in-style=data/bench unseen-style=data/unseen``."""


def parse_room_sets(entries):
    """``[LABEL=]ROOT`` entries -> ordered list of ``(label or None, [roots])``.

    Roots that share a label form one set; unlabelled roots share the label None (one set, as a plain
    ``--data ROOT ...`` always was). ValueError for ``=ROOT`` or ``LABEL=``.
    """
    sets = {}
    for entry in entries:
        label, sep, root = str(entry).partition("=")
        if not sep:
            label, root = None, str(entry)
        elif not label or not root:
            raise ValueError(f"--data {entry!r}: expected ROOT or LABEL=ROOT")
        sets.setdefault(label, []).append(root)
    return list(sets.items())
