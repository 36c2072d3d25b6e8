"""Ecosystem files (TOML) into frozen, validated specs.

Exports every public name of ``_datefmt``, ``_loader``, ``_specs``, ``_units`` and ``_writer``
(each module's ``__all__``), two of ``_app``, one of ``_cron``, two each of ``_pm2``,
``_pm2import`` and ``_ports``, and ``_pm2keys``' ``Note``.
"""

from supervisor_core.config import _datefmt, _loader, _specs, _units, _writer
from supervisor_core.config._app import instance_count as instance_count
from supervisor_core.config._app import is_env_key as is_env_key
from supervisor_core.config._cron import CronSchedule as CronSchedule
from supervisor_core.config._datefmt import *  # noqa: F403
from supervisor_core.config._loader import *  # noqa: F403
from supervisor_core.config._pm2 import is_ecosystem_file as is_ecosystem_file
from supervisor_core.config._pm2 import is_pm2_file as is_pm2_file
from supervisor_core.config._pm2import import ImportedFile as ImportedFile
from supervisor_core.config._pm2import import import_pm2 as import_pm2
from supervisor_core.config._pm2keys import Note as Note
from supervisor_core.config._ports import fixed_port as fixed_port
from supervisor_core.config._ports import port_clash as port_clash
from supervisor_core.config._specs import *  # noqa: F403
from supervisor_core.config._units import *  # noqa: F403
from supervisor_core.config._writer import *  # noqa: F403

__all__ = sorted(
    [
        "CronSchedule",
        "ImportedFile",
        "Note",
        "fixed_port",
        "import_pm2",
        "instance_count",
        "is_ecosystem_file",
        "is_env_key",
        "is_pm2_file",
        "port_clash",
        *_datefmt.__all__,
        *_loader.__all__,
        *_specs.__all__,
        *_units.__all__,
        *_writer.__all__,
    ]
)
