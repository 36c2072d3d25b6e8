"""``$PTM_HOME/daemon.toml``: the daemon's own settings, and one clear line for each mistake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from supervisor_core.daemon._config import DaemonConfig, read_daemon_config
from supervisor_core.errors import ConfigError


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "daemon.toml"
    path.write_text(text)
    return path


def token_file(tmp_path: Path, text: str = "abc123\n", mode: int = 0o600) -> Path:
    path = tmp_path / "token"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_no_file_means_no_tcp_listener(tmp_path: Path) -> None:
    assert read_daemon_config(tmp_path / "daemon.toml") == DaemonConfig()


def test_loopback_address_without_a_token(tmp_path: Path) -> None:
    path = config(tmp_path, '[daemon]\nmetrics_address = "127.0.0.1:9209"\n')
    assert read_daemon_config(path) == DaemonConfig(("127.0.0.1", 9209), None)
    path = config(tmp_path, '[daemon]\nmetrics_address = "[::1]:9209"\n')
    assert read_daemon_config(path).metrics_address == ("::1", 9209)


def test_a_token_file_relative_to_the_config(tmp_path: Path) -> None:
    token_file(tmp_path)
    path = config(
        tmp_path, '[daemon]\nmetrics_address = "0.0.0.0:9209"\nmetrics_token_file = "token"\n'
    )
    assert read_daemon_config(path) == DaemonConfig(("0.0.0.0", 9209), "abc123")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[daemon]\nmetrics_address = "0.0.0.0:9209"\n', "is not a loopback address"),
        ('[daemon]\nmetrics_address = "10.1.2.3:9209"\n', "set metrics_token_file too"),
        ('[daemon]\nmetrics_address = "127.0.0.1"\n', "expected HOST:PORT"),
        ('[daemon]\nmetrics_address = "127.0.0.1:70000"\n', "expected HOST:PORT"),
        ('[daemon]\nmetrics_address = "127.0.0.1:²"\n', "expected HOST:PORT"),  # isdigit()
        (f'[daemon]\nmetrics_address = "127.0.0.1:{"9" * 5000}"\n', "expected HOST:PORT"),
        ('[daemon]\nmetrics_address = "example.com:9209"\n', "must be an IP address"),
        ("[daemon]\nmetrics_address = 9209\n", "expected a string"),
        ('[daemon]\nmetrics_adress = "127.0.0.1:9209"\n', "unknown key [daemon] metrics_adress"),
        ('[deamon]\nmetrics_address = "127.0.0.1:9209"\n', "unknown table or key 'deamon'"),
        ("[daemon\n", "not valid TOML"),
        ('[daemon]\nmetrics_token_file = "missing"\n', "cannot read it"),
    ],
)
def test_mistakes_name_the_file_key_and_value(tmp_path: Path, text: str, message: str) -> None:
    path = config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_daemon_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_token_others_can_read_is_refused(tmp_path: Path) -> None:
    token_file(tmp_path, mode=0o644)
    path = config(tmp_path, '[daemon]\nmetrics_token_file = "token"\n')
    with pytest.raises(ConfigError, match="chmod 600"):
        read_daemon_config(path)


def test_an_empty_token_is_refused(tmp_path: Path) -> None:
    token_file(tmp_path, text="\n")
    path = config(tmp_path, '[daemon]\nmetrics_token_file = "token"\n')
    with pytest.raises(ConfigError, match="one word, not empty"):
        read_daemon_config(path)
