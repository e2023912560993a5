"""eps and threat models, without torch: parsing, checking and writing radii.

eps is always on the [0, 1] pixel scale (L-inf) or an L2 distance in that scale. Kept free of
torch so the report renderer and the CLI's option parsing can use it cheaply.
"""

from __future__ import annotations

import math
import re

from robust_sabn.errors import UserInputError

THREAT_MODELS: tuple[str, ...] = ("Linf", "L2")
_FRACTION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*([0-9]*\.?[0-9]+)\s*$")


def parse_eps(text: str) -> float:
    """Read an eps written as a number ("0.0314", "3e-2") or a fraction ("8/255").

    Only parses; ``robust_sabn.evaluate.check_eps`` checks the range.

    Raises:
        UserInputError: the text is neither.
    """
    match = _FRACTION.match(text)
    try:
        value = float(match[1]) / float(match[2]) if match else float(text)
    except (ValueError, ZeroDivisionError):
        raise UserInputError(
            f"cannot read eps {text!r}: write a number such as 0.0314 or a fraction such as 8/255"
        ) from None
    if not math.isfinite(value):
        raise UserInputError(f"eps {text!r} is not finite: write a number such as 0.0314 or 8/255")
    return value


def whole_255ths(eps: float) -> int | None:
    """``k`` when eps is k/255 for a whole k > 0 (to 1e-6 of a step), else None."""
    steps = eps * 255
    k = round(steps)
    return k if k > 0 and abs(steps - k) < 1e-6 else None


def format_eps(eps: float) -> str:
    """eps for people: ``"0.0314 (8/255)"`` when it is a whole number of 255ths, else ``"0.05"``."""
    k = whole_255ths(eps)
    return f"{eps:.4g} ({k}/255)" if k is not None else f"{eps:.4g}"


def eps_text(eps: float) -> str:
    """eps as RobustBench writes it: ``"8/255"`` for whole 1/255 steps, else e.g. ``"0.5"``."""
    k = whole_255ths(eps)
    return f"{k}/255" if k is not None else f"{eps:g}"


def check_threat_model(threat_model: str) -> str:
    """Return ``threat_model`` if it is "Linf" or "L2".

    Raises:
        UserInputError: any other value.
    """
    if threat_model not in THREAT_MODELS:
        raise UserInputError(
            f"unknown threat model {threat_model!r}; choose one of {', '.join(THREAT_MODELS)}"
        )
    return threat_model
