"""One managed process: spawning, the state machine, stopping a whole tree."""

from supervisor_core.process._cgroup import CgroupTree
from supervisor_core.process._clock import ANYIO_CLOCK, AnyioClock, Clock
from supervisor_core.process._launch import LaunchPlan, check_run_as, launch_plan, run_as
from supervisor_core.process._listen import bind_listen_socket
from supervisor_core.process._notify import NotifySocket, parse_notify
from supervisor_core.process._pipes import AdoptedProcess, PipeReader
from supervisor_core.process._readiness import ReadinessProbe, await_ready
from supervisor_core.process._spawn import (
    RUN_ID_VAR,
    ChildProcess,
    Spawner,
    build_env,
    pid_still_ours,
    signal_process,
    spawn,
)
from supervisor_core.process._state import (
    ACTIVE,
    ENDED,
    RESTARTABLE,
    RUNNING,
    UP,
    Counters,
    Event,
    ExitDecision,
    Rules,
    RunFacts,
    State,
    Status,
    Step,
    backoff_delay,
    decide_after_exit,
    step,
    transition,
)
from supervisor_core.process._tree import (
    TreeStopReport,
    descendant_pids,
    descendants,
    find_marked,
    stop_left_run,
    stop_tree,
    wait_gone,
)
from supervisor_core.process._watcher import freeze_child_watcher, use_pidfd_child_watcher

__all__ = [
    "ACTIVE",
    "ANYIO_CLOCK",
    "ENDED",
    "RESTARTABLE",
    "RUNNING",
    "RUN_ID_VAR",
    "UP",
    "AdoptedProcess",
    "AnyioClock",
    "CgroupTree",
    "ChildProcess",
    "Clock",
    "Counters",
    "Event",
    "ExitDecision",
    "LaunchPlan",
    "NotifySocket",
    "PipeReader",
    "ReadinessProbe",
    "Rules",
    "RunFacts",
    "Spawner",
    "State",
    "Status",
    "Step",
    "TreeStopReport",
    "await_ready",
    "backoff_delay",
    "bind_listen_socket",
    "build_env",
    "check_run_as",
    "decide_after_exit",
    "descendant_pids",
    "descendants",
    "find_marked",
    "freeze_child_watcher",
    "launch_plan",
    "parse_notify",
    "pid_still_ours",
    "run_as",
    "signal_process",
    "spawn",
    "step",
    "stop_left_run",
    "stop_tree",
    "transition",
    "use_pidfd_child_watcher",
    "wait_gone",
]
