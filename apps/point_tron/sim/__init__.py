"""tron-sim: an offline TRON full-node simulator."""


def main() -> int:
    raise SystemExit("tron-sim: not built yet")
