"""Alerts: ``[[notify]]`` entries fire a webhook or a command on chosen events.

* :class:`Notifier` subscribes to a :class:`~supervisor_core.Supervisor` and delivers the
  alerts of a file's ``[[notify]]`` entries, each entry with its own bounded queue, retried,
  never blocking supervision.
* :func:`alert_kinds` says which alerts (``crash``, ``errored``, ``memory``, ``health``,
  ``restart``) a state change is; :func:`alert_payload` is the JSON an alert carries.
* :func:`post_webhook` and :func:`run_command` deliver one alert once.
* :func:`specs_to_json` / :func:`specs_from_json` keep entries in the daemon's ``state.db``.
"""

from supervisor_core.notify import _deliver, _events, _notifier, _stored
from supervisor_core.notify._deliver import *  # noqa: F403
from supervisor_core.notify._events import *  # noqa: F403
from supervisor_core.notify._notifier import *  # noqa: F403
from supervisor_core.notify._stored import *  # noqa: F403

__all__ = sorted([*_deliver.__all__, *_events.__all__, *_notifier.__all__, *_stored.__all__])
