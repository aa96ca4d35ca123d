"""Analysis results kept on the evidence they were computed from, for as long as it is loaded.

The diagnosis, the timeline and the report's sections each ask for the same delivery signals and the
same replayed role history of a flow log; computing them once per loaded :class:`Evidence` is what
makes the report cost its analysis once. Nothing outlives the object: a new ``load`` (a new kernel, a
new report) computes everything again from the files. The frames of a loaded evidence are never
modified by the tool, which is what makes the results safe to share.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")
CACHE_ATTRIBUTE = "_analysis_cache"


def per_evidence(function: Callable[..., Result]) -> Callable[..., Result]:
    """Memoise ``function(evidence, *args, **kwargs)`` on ``evidence``, keyed by the other arguments.

    Arguments that cannot be hashed, or an evidence object without instance attributes, are computed
    every time (correct, only slower). Callers share the result: they must not modify it.

    Parameters
    ----------
    function : callable
        An analysis whose first argument is the loaded evidence.

    Returns
    -------
    callable
        The same analysis, computed once per evidence and arguments.
    """

    signature = inspect.signature(function)

    @functools.wraps(function)
    def cached(evidence: Any, *args: Any, **kwargs: Any) -> Result:
        store = getattr(evidence, "__dict__", None)
        # Arguments as bound, defaults applied: f(e, x) and f(e, x, until=None) are one computation.
        bound = signature.bind(evidence, *args, **kwargs)
        bound.apply_defaults()
        key = (function.__qualname__, *list(bound.arguments.items())[1:])
        try:
            hash(key)
        except TypeError:
            return function(evidence, *args, **kwargs)
        if store is None:
            return function(evidence, *args, **kwargs)
        results = store.setdefault(CACHE_ATTRIBUTE, {})
        if key not in results:
            results[key] = function(evidence, *args, **kwargs)
        return results[key]

    return cached
