"""cpu and memory of whole process trees, sampled by one periodic task, and their history.

Exports every public name of ``_history`` and ``_sampler`` (each module's ``__all__``)."""

from supervisor_core.monitor import _history, _sampler
from supervisor_core.monitor._history import *  # noqa: F403
from supervisor_core.monitor._sampler import *  # noqa: F403

__all__ = sorted([*_history.__all__, *_sampler.__all__])
