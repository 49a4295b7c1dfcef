"""``KEY=VALUE`` settings for :class:`tracker.tracker.TrackerConfig`, as the command lines take them
(``python -m tracker.run --set``, ``python -m benchmarks.tracking --set``)."""
import dataclasses

from .tracker import TrackerConfig


def _parse_bool(text):
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def _parse_labels(text):
    text = text.strip()
    if not text:
        return frozenset()
    return frozenset(int(value) for value in text.split(","))


def parse_config_overrides(items):
    """``KEY=VALUE`` strings -> a dict of :class:`TrackerConfig` field values.

    Values are converted to the field's type (int, float, bool as true/false, str;
    ``ignored_labels`` as comma-separated NYU40 ids, empty for none). Raises ValueError naming the
    item for an unknown field or a value of the wrong type.
    """
    fields = {f.name: f for f in dataclasses.fields(TrackerConfig)}
    defaults = TrackerConfig()
    overrides = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"tracker setting {item!r}: expected KEY=VALUE")
        if key not in fields:
            raise ValueError(f"tracker setting {item!r}: TrackerConfig has no field {key!r} "
                             f"(fields: {', '.join(fields)})")
        default = getattr(defaults, key)
        try:
            if key == "ignored_labels":
                value = _parse_labels(text)
            elif isinstance(default, bool):
                value = _parse_bool(text)
            elif isinstance(default, int):
                value = int(text)
            elif isinstance(default, float):
                value = float(text)
            else:
                value = text
        except ValueError as error:
            raise ValueError(f"tracker setting {item!r}: {error}") from None
        overrides[key] = value
    TrackerConfig(**overrides).make_gallery()       # settings the gallery refuses fail here, not mid-run
    return overrides


def jsonable_overrides(overrides):
    """Overrides as JSON values (label sets as sorted lists)."""
    return {key: sorted(value) if isinstance(value, frozenset) else value for key, value in overrides.items()}
