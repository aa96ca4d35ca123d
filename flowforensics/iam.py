"""``flowforensics.iam``: the offline IAM evaluator, under the short name the docs and issues use.

It lives in :mod:`flowforensics.analysis.iam`, with the rest of the analysis stage.
"""

from __future__ import annotations

from flowforensics.analysis.iam import *  # noqa: F403
from flowforensics.analysis.iam import __all__  # noqa: F401
