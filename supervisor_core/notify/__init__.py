"""Alerts: ``[[notify]]`` entries fire a webhook or a command on chosen events.

* :class:`Notifier` subscribes to a :class:`~supervisor_core.Supervisor` and delivers the
  alerts of a file's ``[[notify]]`` entries, each entry with its own bounded queue, retried,
  never blocking supervision.
* :func:`alert_kinds` says which alerts (``crash``, ``errored``, ``memory``, ``health``,
  ``restart``) a state change is; :func:`alert_payload` is the JSON an alert carries.
* :func:`post_webhook` and :func:`run_command` deliver one alert once.
* :func:`specs_to_json` / :func:`specs_from_json` keep entries in the daemon's ``state.db``.
"""

from supervisor_core.notify._deliver import (
    COMMAND_TIMEOUT,
    WEBHOOK_TIMEOUT,
    Outcome,
    post_webhook,
    run_command,
    webhook_client,
)
from supervisor_core.notify._events import (
    ALERT_KINDS,
    AlertKind,
    alert_kinds,
    alert_payload,
    ended_run,
    iso_utc,
)
from supervisor_core.notify._notifier import DRAIN_TIMEOUT, MAX_QUEUE, RETRY_DELAYS, Notifier
from supervisor_core.notify._stored import specs_from_json, specs_to_json

__all__ = [
    "ALERT_KINDS",
    "COMMAND_TIMEOUT",
    "DRAIN_TIMEOUT",
    "MAX_QUEUE",
    "RETRY_DELAYS",
    "WEBHOOK_TIMEOUT",
    "AlertKind",
    "Notifier",
    "Outcome",
    "alert_kinds",
    "alert_payload",
    "ended_run",
    "iso_utc",
    "post_webhook",
    "run_command",
    "specs_from_json",
    "specs_to_json",
    "webhook_client",
]
