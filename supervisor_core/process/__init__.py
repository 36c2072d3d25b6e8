"""One managed process: spawning, the state machine, stopping a whole tree."""

from supervisor_core.process._listen import bind_listen_socket
from supervisor_core.process._notify import NotifySocket, parse_notify
from supervisor_core.process._spawn import (
    RUN_ID_VAR,
    build_env,
    pid_still_ours,
    signal_process,
    spawn,
)
from supervisor_core.process._state import (
    Event,
    ExitDecision,
    Status,
    backoff_delay,
    decide_after_exit,
    transition,
)
from supervisor_core.process._tree import (
    TreeStopReport,
    descendant_pids,
    descendants,
    find_marked,
    stop_tree,
    wait_gone,
)
from supervisor_core.process._watcher import use_pidfd_child_watcher

__all__ = [
    "RUN_ID_VAR",
    "Event",
    "ExitDecision",
    "NotifySocket",
    "Status",
    "TreeStopReport",
    "backoff_delay",
    "bind_listen_socket",
    "build_env",
    "decide_after_exit",
    "descendant_pids",
    "descendants",
    "find_marked",
    "parse_notify",
    "pid_still_ours",
    "signal_process",
    "spawn",
    "stop_tree",
    "transition",
    "use_pidfd_child_watcher",
    "wait_gone",
]
