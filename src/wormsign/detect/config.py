"""Load the hunt's tunables (config.yaml beside this module), with caller overrides."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

#: libyaml's parser when PyYAML has it (the same documents, several times faster).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def _defaults() -> dict[str, Any]:
    with open(HERE / "config.yaml", encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_LOADER)
    if not isinstance(data, dict):
        raise ValueError(f"{HERE / 'config.yaml'}: expected a mapping")
    return data


def load(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tunables: config.yaml, then ``overrides`` (unknown keys are an error)."""
    cfg = dict(_defaults())
    for k, v in (overrides or {}).items():
        if k not in cfg:
            raise KeyError(f"unknown hunt setting {k!r}; known: {', '.join(sorted(cfg))}")
        cfg[k] = v
    return cfg
