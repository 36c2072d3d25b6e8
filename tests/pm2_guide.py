"""The operators' guide's PM2 ecosystem file, as written there, and a project to run it in.

``GUIDE_JS`` is copied verbatim from ``shared/seed/process-management.zh.md`` (section "PM2
生态系统配置文件"). :func:`guide_project` moves only its paths into a folder of the test and puts
a small Node server at ``dist/index.js``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

GUIDE_JS = """\
module.exports = {
  apps: [{
    name: 'point-tron',
    script: './dist/index.js',
    cwd: '/opt/point-tron',
    exec_mode: 'fork',
    instances: 1,
    autorestart: true,
    watch: false,
    max_memory_restart: '512M',
    env: {
      NODE_ENV: 'production',
      PORT: '3000',
      DB_PATH: './data/point-tron.db',
      TRON_RPC_URL: 'https://api.trongrid.io',
      TRON_POLLING_INTERVAL: '3000'
    },
    env_production: {
      NODE_ENV: 'production',
      PORT: '3000',
      DB_PATH: '/var/lib/point-tron/data/point-tron.db',
      LOG_DIR: '/var/log/point-tron'
    },
    out_file: '/var/log/point-tron/out.log',
    error_file: '/var/log/point-tron/error.log',
    log_date_format: 'YYYY-MM-DD HH:mm:ss',
    merge_logs: true,
    log_file_max_size: '100MB',
    log_file_max_files: 10
  }]
};
"""

# Prints the variables the file sets (never binding the guide's port 3000: a shared machine).
SERVER_JS = """\
const http = require('http');
const names = ['NODE_ENV', 'PORT', 'DB_PATH', 'TRON_RPC_URL', 'TRON_POLLING_INTERVAL', 'LOG_DIR'];
for (const name of names) console.log(`env ${name}=${process.env[name]}`);
console.error('an error line');
http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => {
  console.log('listening');
});
"""

ENV = {
    "NODE_ENV": "production",
    "PORT": "3000",
    "DB_PATH": "./data/point-tron.db",
    "TRON_RPC_URL": "https://api.trongrid.io",
    "TRON_POLLING_INTERVAL": "3000",
}


def env_production(root: Path) -> dict[str, str]:
    """``env`` with ``env_production`` on top, its paths moved under ``root``."""
    return {
        **ENV,
        "DB_PATH": f"{root}/var/lib/point-tron/data/point-tron.db",
        "LOG_DIR": f"{root}/var/log/point-tron",
    }


def moved(text: str, root: Path) -> str:
    """``text`` with the guide's absolute paths under ``root``."""
    for path in ("/opt/point-tron", "/var/log/point-tron", "/var/lib/point-tron"):
        text = text.replace(f"'{path}", f"'{root}{path}")
    return text


def guide_project(root: Path) -> Path:
    """The guide's layout under ``root``; returns the folder of ``ecosystem.config.js``."""
    app = root / "opt" / "point-tron"
    (app / "dist").mkdir(parents=True)
    (app / "dist" / "index.js").write_text(SERVER_JS)
    (root / "var" / "log" / "point-tron").mkdir(parents=True)
    (app / "ecosystem.config.js").write_text(moved(GUIDE_JS, root))
    return app


def guide_data(folder: Path) -> Any:
    """What the guide's file exports, evaluated by node (to write it as JSON and YAML)."""
    done = subprocess.run(
        [
            "node",
            "-e",
            "console.log(JSON.stringify(require(process.argv[1])))",
            str(folder / "ecosystem.config.js"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(done.stdout)


def write_forms(folder: Path) -> dict[str, Path]:
    """The guide's file as ``.js``, ``.json`` and ``.yaml``, beside each other."""
    data = guide_data(folder)
    as_json = folder / "ecosystem.json"
    as_json.write_text(json.dumps(data, indent=2))
    as_yaml = folder / "ecosystem.yaml"
    as_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return {"js": folder / "ecosystem.config.js", "json": as_json, "yaml": as_yaml}
