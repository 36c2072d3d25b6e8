"""The :class:`~supervisor_core.Supervisor`'s app registry: each app's spec, instances and
driver tasks, found by name and instance index."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import anyio

from supervisor_core._instance import Instance
from supervisor_core.config import AppSpec
from supervisor_core.drivers import AppControl, AppDriver
from supervisor_core.errors import UnknownAppError

__all__ = ["App", "Apps", "Picked"]

Picked = Collection[int] | None
"""The instances a command acts on (by index); None: every instance."""


@dataclass
class App:
    """One app: its spec, its instances (``0..N-1``) and the scope of its drivers."""

    spec: AppSpec
    instances: list[Instance] = field(default_factory=list)
    drivers: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    """Cancelled when the app is deleted (also before its drivers have started)."""

    def set_spec(self, spec: AppSpec) -> None:
        """The app and each instance use ``spec`` from their next run on (``--update-env``)."""
        self.spec = spec
        for inst in self.instances:
            inst.spec = spec

    async def run_drivers(
        self, drivers: Sequence[AppDriver], control: AppControl, notice: Callable[[str], None]
    ) -> None:
        """Run each driver until the app is deleted; a driver that fails is reported, and
        never takes the supervisor down."""

        async def guarded(driver: AppDriver) -> None:
            try:
                await driver(control, self.spec)
            except Exception as exc:
                notice(f"{self.spec.name}: {getattr(driver, '__name__', driver)} failed: {exc!r}")

        with self.drivers:
            async with anyio.create_task_group() as tg:
                for driver in drivers:
                    tg.start_soon(guarded, driver)


class Apps:
    """The apps by name, in the order they were added."""

    def __init__(self) -> None:
        self._apps: dict[str, App] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._apps

    @property
    def names(self) -> list[str]:
        return list(self._apps)

    def get(self, name: str) -> App | None:
        return self._apps.get(name)

    def add(self, spec: AppSpec) -> App:
        app = self._apps[spec.name] = App(spec)
        return app

    def remove(self, name: str) -> None:
        del self._apps[name]

    def app(self, name: str) -> App:
        try:
            return self._apps[name]
        except KeyError:
            raise UnknownAppError(f"no app named {name!r}") from None

    def instance(self, name: str, index: int) -> Instance:
        insts = self.app(name).instances
        if not 0 <= index < len(insts):
            raise UnknownAppError(f"app {name!r} has no instance {index}")
        return insts[index]

    def pick(self, name: str, instances: Picked) -> list[Instance]:
        if instances is None:
            return list(self.app(name).instances)
        return [self.instance(name, index) for index in sorted(set(instances))]

    def by_app(self) -> dict[str, list[Instance]]:
        return {name: app.instances for name, app in self._apps.items()}

    def all_instances(self) -> list[Instance]:
        return [inst for app in self._apps.values() for inst in app.instances]
