"""xlogreg's warnings, attributed to the user's line, not to the library's inside."""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["ConvergenceWarning", "warn"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message, category):
    """``warnings.warn(message, category)`` reported at the first caller outside xlogreg.

    Whichever entry point the user called (``train``, ``optimize``,
    ``newton_cg``, ...), and however deep inside the package the warning
    arises, the report names the user's own line (what Python 3.12's
    ``skip_file_prefixes`` does; this works on 3.10 too).
    """
    level = 2  # 1 would be this function; 2 its caller
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


class ConvergenceWarning(UserWarning):
    """The solver stopped at its iteration limit before its tolerance was met."""
