"""tron-sim: an offline TRON full-node simulator.

Block n is a pure function of (seed, n) (see ChainSpec); the head advances with time. Use it
from the command line (`tron-sim --port 8090 --block-interval 3 --seed 1`, see
docs/tron-sim.md) or in-process: `build_app(Chain.new(...))` is a Starlette app for
httpx.ASGITransport, and `serve_sim(chain)` serves it over real HTTP on a free port.
"""

from point_tron.sim._app import build_app
from point_tron.sim._chain import DEFAULT_START_HEIGHT, STATE_FILE, Chain, ChainSpec
from point_tron.sim._cli import main
from point_tron.sim._faults import Faults
from point_tron.sim._server import SimServer, serve_sim

__all__ = [
    "DEFAULT_START_HEIGHT",
    "STATE_FILE",
    "Chain",
    "ChainSpec",
    "Faults",
    "SimServer",
    "build_app",
    "main",
    "serve_sim",
]
