"""PM2 ecosystem files (.js, .json, .yaml) read as data, each key mapped, converted or
reported; ``import_pm2`` writes a TOML file that loads to the same apps. Real ``node``."""

from __future__ import annotations

import json
import os
import pwd
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from supervisor_core.config import (
    AppSpec,
    Note,
    _pm2,
    import_pm2,
    is_ecosystem_file,
    is_pm2_file,
    load_ecosystem,
    parse_ecosystem,
)
from supervisor_core.errors import ConfigError
from supervisor_core.process import launch_plan
from tests.pm2_guide import ENV, env_production, guide_project, write_forms

MIB = 1024 * 1024


@pytest.fixture
def guide(tmp_path: Path) -> Path:
    return guide_project(tmp_path)


def js(folder: Path, text: str, name: str = "ecosystem.config.js") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def as_json(folder: Path, data: Any, name: str = "ecosystem.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def one_app(folder: Path, **keys: Any) -> AppSpec:
    (folder / "app.py").write_text("")
    path = as_json(folder, {"apps": [{"name": "a", "script": "app.py", **keys}]})
    return load_ecosystem(path).apps[0]


def config_error(path: Path, env: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_ecosystem(path, env)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}:"), text
    return text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ecosystem.config.js", True),
        ("ecosystem.config.cjs", True),
        ("ecosystem.mjs", True),
        ("ecosystem-prod.json", True),
        ("pm2.config.js", True),
        ("pm2.config.mjs", True),  # PM2 reads *.config.mjs as a config file too
        ("apps.json", True),
        ("apps.yaml", True),
        ("apps.yml", True),
        ("index.js", False),
        ("server.mjs", False),
        ("config.js", False),
        ("app.py", False),
    ],
)
def test_pm2_files_are_known_by_their_names(name: str, expected: bool) -> None:
    assert is_pm2_file(name) is expected
    assert is_ecosystem_file(name) is expected
    assert is_ecosystem_file("ecosystem.toml") and not is_pm2_file("ecosystem.toml")
    assert is_ecosystem_file("dump.toml.bak") and not is_pm2_file("dump.toml.bak")


def test_the_guides_file_in_its_three_forms_gives_the_same_app(guide: Path) -> None:
    root = guide.parent.parent
    forms = write_forms(guide)
    specs = {form: load_ecosystem(path, "production").apps for form, path in forms.items()}
    assert specs["js"] == specs["json"] == specs["yaml"]
    (app,) = specs["js"]
    assert app.name == "point-tron"
    assert app.cwd == guide
    assert app.argv[1:] == (str(guide / "dist" / "index.js"),)
    assert Path(app.argv[0]).name == "node"
    assert dict(app.env) == env_production(root)
    assert app.env_name == "production"
    assert app.memory.max_memory_restart == 512 * MIB
    assert app.logs is not None
    assert app.logs.out_file == root / "var/log/point-tron/out.log"
    assert app.logs.error_file == root / "var/log/point-tron/error.log"
    assert app.logs.date_format is not None
    assert app.logs.date_format.source == "YYYY-MM-DD HH:mm:ss"
    assert (app.logs.max_size, app.logs.max_files) == (100 * MIB, 10)
    plain = load_ecosystem(forms["yaml"])
    assert dict(plain.apps[0].env) == ENV
    assert plain.warnings == ()  # every key of the guide has a ptm meaning


def test_an_entry_of_a_pm2_file_compiles_alone_as_the_daemon_stores_it(guide: Path) -> None:
    from supervisor_core.config import compile_entry

    eco = load_ecosystem(guide / "ecosystem.config.js", "production")
    assert compile_entry(eco.entries[0], base_dir=guide, env="production") == eco.apps[0]
    entry = json.loads(json.dumps(dict(eco.entries[0])))
    assert tomllib.loads(tomli_w.dumps(entry)) == entry  # what ptm save writes reads back


def test_milliseconds_become_durations_and_pm2_names_become_ptms(tmp_path: Path) -> None:
    me = pwd.getpwuid(os.getuid())
    app = one_app(
        tmp_path,
        min_uptime=2000,
        restart_delay=250,
        kill_timeout=1600,
        listen_timeout=8000,
        exp_backoff_restart_delay=100,
        node_args="--max-old-space-size=64",
        exec_interpreter="python3",
        out="o.log",
        err="e.log",
        combine_logs=False,
        cron="0 3 * * *",
        uid=me.pw_uid,
        gid=me.pw_gid,
        time=True,
    )
    assert app.restart.min_uptime == 2.0
    assert app.restart.restart_delay == 0.25
    assert app.restart.exp_backoff_restart_delay == 0.1
    assert app.stop.kill_timeout == 1.6
    assert app.readiness.listen_timeout == 8.0
    assert app.interpreter_args == ("--max-old-space-size=64",)
    assert app.logs is not None
    assert app.logs.out_file == tmp_path / "o.log"
    assert app.logs.error_file == tmp_path / "e.log"
    assert app.logs.merge_logs is False
    assert app.logs.date_format is not None
    assert app.logs.date_format.source == "YYYY-MM-DDTHH:mm:ss"  # PM2's time: true stamp
    assert app.cron_restart == "0 3 * * *"
    assert app.user == me.pw_name


def test_instances_max_zero_and_negative(tmp_path: Path) -> None:
    cpus = os.cpu_count() or 1
    assert one_app(tmp_path, instances="max").instances == cpus
    assert one_app(tmp_path, instances=0).instances == cpus
    assert one_app(tmp_path, instances=-1).instances == max(1, cpus - 1)
    assert one_app(tmp_path, instances="2").instances == 2
    assert one_app(tmp_path, instances="0").instances == cpus  # strings as PM2's CLI -i
    assert one_app(tmp_path, instances="-1").instances == max(1, cpus - 1)


def test_null_logs_and_log_paths_relative_to_the_apps_cwd_as_pm2(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "app.py").write_text("")
    path = as_json(
        tmp_path,
        {
            "apps": [
                {
                    "name": "a",
                    "script": "app.py",
                    "cwd": "sub",
                    "out": "o.log",
                    "error_file": "NULL",
                }
            ]
        },
    )
    logs = load_ecosystem(path).apps[0].logs
    assert logs is not None
    assert logs.out_file == tmp_path / "sub" / "o.log"  # PM2: path.resolve(cwd, out_file)
    assert logs.error_file == Path("/dev/null")  # PM2's "NULL", not a file named NULL
    imported = import_pm2(path, tmp_path / "ecosystem.toml")
    assert 'out_file = "sub/o.log"' in imported.text
    notes = {note.key: note.text for note in imported.notes}
    assert notes["apps[0].out"] == 'renamed out_file, "sub/o.log": relative to cwd, as PM2 takes it'


def test_a_json_file_that_is_not_an_ecosystem_says_so(tmp_path: Path) -> None:
    path = as_json(tmp_path, {"name": "web", "version": "1.0.0", "scripts": {}}, "package.json")
    assert config_error(path) == (
        f"{path}: not a PM2 ecosystem file: it has no apps and no script"
        " (a PM2 file holds { apps: [...] }, or one app)"
    )
    path = as_json(tmp_path, {"app": [{"name": "a", "script": "a.py"}]}, "misspelt.json")
    assert config_error(path).startswith(f"{path}: app: no apps;")


def test_time_false_turns_the_stamp_off_and_null_is_unset(tmp_path: Path) -> None:
    app = one_app(tmp_path, time=False, max_memory_restart=None)
    assert app.logs is not None and app.logs.date_format is None
    assert app.memory.max_memory_restart is None


def test_cluster_mode_runs_forks_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = as_json(
        tmp_path,
        {"apps": [{"name": "a", "script": "app.py", "exec_mode": "cluster", "instances": 2}]},
    )
    eco = load_ecosystem(path)
    assert eco.apps[0].exec_mode == "fork" and eco.apps[0].instances == 2
    (warning,) = eco.warnings
    assert warning.startswith(f'{path}: apps[0].exec_mode: "cluster" -> "fork"')
    assert "[apps.listen]" in warning


def test_increment_var_and_port(tmp_path: Path) -> None:
    app = one_app(tmp_path, instances=3, increment_var="PORT", port=4000)
    assert app.env["PORT"] == "4000"
    ports = [launch_plan(app, index, run_id="r", base_env={}).env["PORT"] for index in range(3)]
    assert ports == ["4000", "4001", "4002"]


def test_increment_var_needs_an_integer_variable(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = as_json(tmp_path, {"apps": [{"name": "a", "script": "app.py", "increment_var": "P"}]})
    assert "apps[0].increment_var: P must be set to an integer in env" in config_error(path)


def test_keys_without_equivalent_are_listed_in_one_warning(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = as_json(
        tmp_path,
        {
            "apps": [
                {
                    "name": "a",
                    "script": "app.py",
                    "source_map_support": True,
                    "vizion": False,
                    "pmx": True,
                    "namespace": "x",
                }
            ],
            "deploy": {"production": {"user": "node"}},
        },
    )
    eco = load_ecosystem(path)
    assert eco.warnings == (
        f"{path}: PM2 keys with no ptm equivalent, ignored: deploy, apps[0].source_map_support,"
        f" apps[0].vizion, apps[0].pmx, apps[0].namespace (ptm import {path} says why)",
    )


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("max_memory_restrat", "unknown key; did you mean max_memory_restart?"),
        ("maxMemoryRestart", "unknown key; did you mean max_memory_restart?"),
        ("colour", "unknown key"),
    ],
)
def test_an_unknown_key_is_an_error_with_a_suggestion(
    tmp_path: Path, key: str, message: str
) -> None:
    (tmp_path / "app.py").write_text("")
    path = as_json(tmp_path, {"apps": [{"name": "a", "script": "app.py", key: "1G"}]})
    assert config_error(path) == f"{path}: apps[0].{key}: {message}"


def test_a_value_of_the_wrong_type_is_checked_as_in_toml(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = as_json(tmp_path, {"apps": [{"name": "a", "script": "app.py", "instances": "two"}]})
    assert config_error(path).startswith(f"{path}: apps[0].instances: must be an integer")
    path = as_json(tmp_path, {"apps": "a"}, name="b.json")
    assert config_error(path) == f"{path}: apps: must be a non-empty list of apps (got 'a')"


def test_json_and_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "ecosystem.json"
    bad.write_text('{\n  "apps": [\n    {"name": "a",]\n  ]\n}\n')
    assert config_error(bad).startswith(f"{bad}: invalid JSON at line 3, column 18:")
    bad = tmp_path / "ecosystem.yaml"
    bad.write_text("apps:\n  - name: a\n    script: [app.py\n")
    assert config_error(bad).startswith(f"{bad}: invalid YAML at line 4, column 1:")


def test_a_json_file_is_read_as_pm2_reads_it_comments_and_trailing_commas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "app.py").write_text("")
    path = tmp_path / "ecosystem.json"
    path.write_text(
        "// PM2 evaluates .json as JavaScript\n"
        "{\n  apps: [\n"
        "    { name: 'a', script: \"app.py\", env: { A: 1, }, }, // trailing\n"
        "  ],\n}\n"
    )
    app = load_ecosystem(path).apps[0]
    assert (app.name, app.env["A"]) == ("a", "1")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no node: Python's error, as before
    assert config_error(path) == f"{path}: invalid JSON at line 1, column 1: Expecting value"


def test_yaml_scalars_are_read_as_yaml_1_2_like_pm2s_js_yaml(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = tmp_path / "ecosystem.yaml"
    path.write_text(
        "apps:\n  - name: a\n    script: app.py\n    instances: 0x2\n    env:\n"
        "      COUNTRY: NO\n      FEATURE: on\n      AT: 12:30\n      MODE: 0640\n"
        "      DEBUG: true\n      RATIO: 1.50\n      OCTAL: 0o17\n"
    )
    app = load_ecosystem(path).apps[0]
    assert app.instances == 2
    assert {key: app.env[key] for key in ("COUNTRY", "FEATURE", "AT", "MODE")} == {
        "COUNTRY": "NO",  # YAML 1.1 (PyYAML's default) made these false, true, 750 and 416
        "FEATURE": "on",
        "AT": "12:30",
        "MODE": "640",
    }
    assert (app.env["DEBUG"], app.env["RATIO"], app.env["OCTAL"]) == ("true", "1.5", "15")


def test_a_js_file_that_throws_names_its_line(tmp_path: Path) -> None:
    path = js(tmp_path, "const x = 1;\n\nthrow new Error('no config here');\n")
    assert config_error(path) == (f"{path}: line 3: Error: no config here (evaluated by node)")
    path = js(tmp_path, "module.exports = {\n  apps: [}\n", name="broken.config.js")
    assert config_error(path).startswith(f"{path}: line 2: SyntaxError:")


def test_a_js_file_that_exports_nothing(tmp_path: Path) -> None:
    path = js(tmp_path, "const apps = [{ name: 'a', script: 'a.py' }];\n")
    assert config_error(path) == (
        f"{path}: exports nothing: no apps (module.exports = {{ apps: [...] }})"
    )


def test_a_js_file_that_never_returns_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pm2, "JS_TIMEOUT", 1.0)
    path = js(tmp_path, "setInterval(() => {}, 1000);\nwhile (true) {}\n")
    assert config_error(path) == (
        f"{path}: node did not finish evaluating the file within 1s"
        " (does it wait for something, or loop?)"
    )


def test_what_the_js_file_prints_is_ignored_and_mjs_is_imported(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = js(
        tmp_path,
        "console.log('hello');\nprocess.stdout.write('{}');\n"
        "module.exports = { apps: [{ name: 'a', script: 'app.py' }] };\n",
    )
    assert load_ecosystem(path).apps[0].name == "a"
    path = js(
        tmp_path, "export default { apps: [{ name: 'm', script: 'app.py' }] };\n", "ecosystem.mjs"
    )
    assert load_ecosystem(path).apps[0].name == "m"


def test_without_node_the_error_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    path = js(tmp_path, "module.exports = { apps: [] };\n")
    assert config_error(path) == (
        f"{path}: node is not installed (it evaluates a PM2 .js file); install Node.js, or"
        " write the file as .json or .yaml"
    )


def test_import_writes_a_toml_file_that_loads_to_the_same_apps(guide: Path) -> None:
    source = guide / "ecosystem.config.js"
    imported = import_pm2(source, guide / "ecosystem.toml")
    (guide / "ecosystem.toml").write_text(imported.text)
    assert imported.apps == ("point-tron",)
    assert imported.text.startswith(f"# Written by `ptm import` from the PM2 file {source}.")
    for env in (None, "production"):
        assert load_ecosystem(guide / "ecosystem.toml", env).apps == (
            load_ecosystem(source, env).apps
        )
    table = tomllib.loads(imported.text)["apps"][0]
    assert table["cwd"] == str(guide)  # as written in the PM2 file
    assert table["env_production"]["NODE_ENV"] == "production"


def test_import_into_another_folder_makes_relative_paths_absolute(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("")
    source = as_json(
        project,
        {
            "apps": [
                {
                    "name": "a",
                    "script": "app.py",
                    "out_file": "logs/a.log",
                    "min_uptime": 1500,
                    "vizion": True,
                }
            ],
            "deploy": {},
        },
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    imported = import_pm2(source, elsewhere / "ptm.toml")
    table = tomllib.loads(imported.text)["apps"][0]
    assert table["cwd"] == str(project)
    assert table["out_file"] == str(project / "logs" / "a.log")
    assert table["min_uptime"] == "1500ms"
    assert '#   min_uptime: 1500 (milliseconds) -> "1500ms"' in imported.text
    assert "#   vizion dropped: git metadata" in imported.text
    assert "#   deploy dropped: PM2's git deploy" in imported.text
    again = parse_ecosystem(tomllib.loads(imported.text), path=elsewhere / "ptm.toml")
    assert again.apps == load_ecosystem(source).apps
    kinds = {note.key: note.kind for note in imported.notes}
    assert kinds["apps[0].script"] == "mapped"
    assert kinds["apps[0].min_uptime"] == "converted"
    assert kinds["apps[0].vizion"] == kinds["deploy"] == "dropped"


def test_the_pm2_guide_names_every_pm2_key_and_every_ptm_command() -> None:
    from supervisor_core.cli._main import _COMMANDS
    from supervisor_core.config._pm2keys import _KNOWN, _TOP_DROPPED

    text = (Path(__file__).parent.parent / "docs" / "coming-from-pm2.md").read_text()
    for key in sorted(_KNOWN | set(_TOP_DROPPED)):
        assert f"`{key}`" in text, key
    for command in sorted(set(_COMMANDS) - {"daemon"}):
        assert f"`ptm {command}" in text, command


def test_wait_ready_without_a_health_check_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = as_json(
        tmp_path,
        {"apps": [{"name": "a", "script": "app.py", "wait_ready": True, "listen_timeout": 5000}]},
    )
    eco = load_ecosystem(path)
    assert eco.apps[0].readiness.wait_ready is True
    assert eco.apps[0].readiness.listen_timeout == 5.0
    (warning,) = eco.warnings
    assert warning.startswith(f"{path}: apps[0].wait_ready: PM2 waits for process.send('ready')")
    assert "READY=1" in warning


def test_import_refuses_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "ecosystem.toml"
    path.write_text("")
    with pytest.raises(ConfigError, match="already a ptm ecosystem file"):
        import_pm2(path, tmp_path / "out.toml")


def test_a_pm2_value_ptm_converts_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = as_json(tmp_path, {"apps": [{"name": "a", "script": "app.py", "time": "yes"}]})
    assert config_error(path) == f"{path}: apps[0].time: must be true or false (got 'yes')"
    path = as_json(
        tmp_path, {"apps": [{"name": "a", "script": "app.py", "out": "a.log", "out_file": "b"}]}
    )
    assert (
        config_error(path)
        == f"{path}: apps[0].out_file: set twice, as out and as out_file; keep one"
    )


def test_a_js_file_of_an_es_module_package_is_imported(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    (tmp_path / "package.json").write_text('{"type": "module"}')
    path = js(tmp_path, "export default { apps: [{ name: 'esm', script: 'app.py' }] };\n")
    assert load_ecosystem(path).apps[0].name == "esm"
    path = js(tmp_path, "throw new Error('in a module');\n", "bad.config.js")
    assert config_error(path) == f"{path}: line 1: Error: in a module (evaluated by node)"


def test_a_js_file_sees_the_callers_environment(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = js(
        tmp_path,
        "module.exports = {apps: [{name: 'a', script: 'app.py',"
        " env: {PORT: process.env.PTM_TEST_PORT || 'unset'}}]}\n",
    )
    caller = {"PATH": os.environ["PATH"], "PTM_TEST_PORT": "4321"}
    (app,) = load_ecosystem(path, caller_env=caller).apps
    assert app.env["PORT"] == "4321"  # process.env in the file is the caller's, as in PM2
    assert app.inherit_env == caller
    (own,) = load_ecosystem(path).apps  # without one: this process's environment
    assert own.env["PORT"] == os.environ.get("PTM_TEST_PORT", "unset")
    # node itself is looked for on the caller's PATH.
    assert config_error_with(path, {"PATH": str(tmp_path)}).endswith(
        "node is not installed (it evaluates a PM2 .js file); install Node.js, or write the"
        " file as .json or .yaml"
    )


def config_error_with(path: Path, caller_env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_ecosystem(path, caller_env=caller_env)
    return str(caught.value)


@pytest.mark.parametrize("output", ["ecosystem.json", "out.yaml", "ecosystem.config.js"])
def test_ptm_import_writes_only_a_toml_file(
    tmp_path: Path, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from supervisor_core.cli._main import main

    (tmp_path / "app.py").write_text("")
    source = as_json(tmp_path, {"apps": [{"name": "a", "script": "app.py"}]})
    before = source.read_text()
    # TOML under a PM2 file's name would be read as JSON/YAML/JS by ptm start (and -o on the
    # source itself, with --force, would overwrite the PM2 file).
    assert main(["import", str(source), "-o", str(tmp_path / output), "--force"]) == 2
    assert capsys.readouterr().err == (
        f"ptm: {tmp_path / output}: -o must name a .toml file (ptm reads {output} as a PM2"
        " file), or - for stdout\n"
    )
    assert source.read_text() == before
    assert not (tmp_path / output).exists() or output == "ecosystem.json"


def test_numbers_in_argument_lists_are_strings_as_node_passes_them(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = js(
        tmp_path,
        'module.exports = { apps: [{ name: "a", script: "app.py",'
        ' args: ["--port", 3000, "--ratio", 1.5, "--on", true], node_args: ["--x", 2] }] };\n',
    )
    app = load_ecosystem(path).apps[0]
    assert app.args == ("--port", "3000", "--ratio", "1.5", "--on", "true")
    assert app.interpreter_args == ("--x", "2")
    notes = {note.key: note for note in import_pm2(path, tmp_path / "e.toml").notes}
    assert notes["apps[0].args"].kind == "converted"
    assert notes["apps[0].node_args"].text == (
        "renamed interpreter_args; numbers and booleans as strings, as node passes them"
    )


def test_objects_in_env_are_json_text_as_pm2_sets_them(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("")
    path = js(
        tmp_path,
        'module.exports = { apps: [{ name: "a", script: "app.py",'
        ' env: { OBJ: { a: 1, u: "é" }, LIST: [1, "b"], S: "s" } }] };\n',
    )
    app = load_ecosystem(path).apps[0]
    assert (app.env["OBJ"], app.env["LIST"], app.env["S"]) == ('{"a":1,"u":"é"}', '[1,"b"]', "s")
    notes = {note.key: note for note in import_pm2(path, tmp_path / "e.toml").notes}
    assert notes["apps[0].env"] == Note(
        "converted", "apps[0].env", "OBJ, LIST: objects as JSON text, as PM2"
    )


def test_an_es_module_that_throws_names_its_line_in_a_folder_with_a_space(tmp_path: Path) -> None:
    folder = tmp_path / "my app"  # node names an ES module by URL: file:///.../my%20app/...
    folder.mkdir()
    path = js(folder, "const x = 1;\nthrow new Error('no');\nexport default {};\n", "ecosystem.mjs")
    assert config_error(path) == f"{path}: line 2: Error: no (evaluated by node)"


def test_pm2s_sample_folder_script_is_named_a_folder_not_missing(tmp_path: Path) -> None:
    (tmp_path / "service-worker").mkdir()  # `pm2 ecosystem`'s sample: script: './service-worker/'
    path = js(tmp_path, "module.exports = { apps: [{ script: './service-worker/' }] };\n")
    assert config_error(path) == (
        f"{path}: apps[0].script: is a folder in {tmp_path}, not a file; name the file to run"
        " in it (got './service-worker/')"
    )
    path = as_json(tmp_path, {"apps": [{"name": "a", "script": "service-worker"}]})
    assert "apps[0].script: is a folder in" in config_error(path)


def test_a_six_field_cron_restart_is_read_as_pm2s_croner_reads_it(tmp_path: Path) -> None:
    # croner, PM2's cron library: five or six fields, seconds first when six.
    app = one_app(tmp_path, cron_restart="0 */5 * * * *")
    assert app.cron_restart == "0 */5 * * * *"
    assert one_app(tmp_path, cron="*/30 * * * * *").cron_restart == "*/30 * * * * *"
    path = as_json(tmp_path, {"apps": [{"name": "a", "script": "app.py", "cron": "0 0 3 * * * *"}]})
    assert config_error(path) == (
        f"{path}: apps[0].cron_restart: a cron expression has 5 fields: minute hour day-of-month"
        " month day-of-week, or 6 (seconds first) (got '0 0 3 * * * *')"
    )


def test_env_null_numbers_and_booleans_are_the_strings_pm2_sets(tmp_path: Path) -> None:
    # PM2's mergeEnvironmentVariables turns an object-typed value of env (null is one) into
    # JSON.stringify of it, "null"; node's spawn writes any other value as `${value}`.
    (tmp_path / "app.py").write_text("")
    path = js(
        tmp_path,
        'module.exports = { apps: [{ name: "a", script: "app.py", env: { GONE: null,'
        " PORT: 3000, RATIO: 0.5, TINY: 1e-7, HUGE: 1e21, ON: true, OFF: false },"
        " env_production: { GONE: null, PORT: 80 } }] };\n",
    )
    app = load_ecosystem(path).apps[0]
    assert {name: app.env[name] for name in ("GONE", "PORT", "RATIO", "TINY", "HUGE")} == {
        "GONE": "null",
        "PORT": "3000",
        "RATIO": "0.5",
        "TINY": "1e-7",
        "HUGE": "1e+21",
    }
    assert (app.env["ON"], app.env["OFF"]) == ("true", "false")
    production = load_ecosystem(path, "production")
    assert (production.apps[0].env["GONE"], production.apps[0].env["PORT"]) == ("null", "80")
    # The same values read from JSON and YAML (3.0 is the number 3 there, as in node).
    data = {"apps": [{"name": "a", "script": "app.py", "env": {"GONE": None, "N": 3.0}}]}
    from_json = load_ecosystem(as_json(tmp_path, data)).apps[0].env
    (tmp_path / "e.yaml").write_text(
        "apps:\n  - name: a\n    script: app.py\n    env: {GONE: null, N: 3.0, T: ~}\n"
    )
    from_yaml = load_ecosystem(tmp_path / "e.yaml").apps[0].env
    assert (
        (from_json["GONE"], from_json["N"]) == (from_yaml["GONE"], from_yaml["N"]) == ("null", "3")
    )
    # A null is said at ptm start: the app sees the text "null", not an unset variable.
    warnings = load_ecosystem(path).warnings
    assert (
        f'{path}: apps[0].env.GONE: null -> "null", as PM2 sets it (to leave the variable unset,'
        ' remove the key; for an empty value, write "")'
    ) in warnings
    imported = import_pm2(path, tmp_path / "e.toml")
    assert tomllib.loads(imported.text)["apps"][0]["env"]["GONE"] == "null"
    assert '#   env.GONE: null -> "null", as PM2 sets it' in imported.text


def test_numbers_written_as_strings_are_read_as_pm2_reads_them(tmp_path: Path) -> None:
    # PM2's Config._valid: a value of a key whose schema type has "number" is parseFloat'ed
    # when !isNaN(value), so "10" is 10. JSON and YAML files often quote numbers.
    me = pwd.getpwuid(os.getuid()).pw_name
    app = one_app(
        tmp_path,
        max_restarts="10",
        kill_timeout="3000",
        restart_delay=" 250 ",
        min_uptime="2000",
        listen_timeout="8000",
        exp_backoff_restart_delay="100",
        uid=str(os.getuid()),
    )
    assert app.restart.max_restarts == 10
    assert (app.stop.kill_timeout, app.restart.restart_delay) == (3.0, 0.25)
    assert (app.restart.min_uptime, app.readiness.listen_timeout) == (2.0, 8.0)
    assert app.restart.exp_backoff_restart_delay == 0.1
    assert app.user == me
    # A JSON or YAML 10.0 is node's 10.
    assert one_app(tmp_path, max_restarts=10.0, kill_timeout=1600.0).restart.max_restarts == 10
    assert one_app(tmp_path, kill_timeout=1600.0).stop.kill_timeout == 1.6
    path = as_json(tmp_path, {"apps": [{"name": "a", "script": "app.py", "max_restarts": "10"}]})
    imported = import_pm2(path, tmp_path / "e.toml")
    assert tomllib.loads(imported.text)["apps"][0]["max_restarts"] == 10
    assert "#   max_restarts: '10' -> 10, a number in a string, as PM2 reads it" in imported.text
    data = {"apps": [{"name": "a", "script": "app.py", "kill_timeout": "3000"}]}
    table = tomllib.loads(import_pm2(as_json(tmp_path, data), tmp_path / "e.toml").text)
    assert table["apps"][0]["kill_timeout"] == "3s"


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("max_restarts", "ten", "must be an integer (got 'ten')"),
        ("max_restarts", "10.5", "must be an integer (got '10.5')"),
        ("max_restarts", "0x10", "must be an integer (got '0x10')"),
        ("max_restarts", "-1", "must be at least 0 (got -1)"),
        ("kill_timeout", "soon", "not a duration; use a number with ms, s, m or h, such as"),
    ],
)
def test_a_string_that_is_not_a_number_is_still_an_error(
    tmp_path: Path, key: str, value: str, reason: str
) -> None:
    (tmp_path / "app.py").write_text("")
    path = as_json(tmp_path, {"apps": [{"name": "a", "script": "app.py", key: value}]})
    assert config_error(path).startswith(f"{path}: apps[0].{key}: {reason}")


def production_file(folder: Path) -> Path:
    """A PM2 file written for a server: its folders, programs and user are not on this
    machine (an operator converting it on a laptop)."""
    return js(
        folder,
        "module.exports = { apps: ["
        '{ name: "api", cwd: "/srv/nowhere/api", script: "server.js", watch: ["src"],'
        '  env_production: { NODE_ENV: "production" } },'
        '{ name: "worker", script: "/srv/nowhere/worker.py", uid: "nosuchuser-ptm",'
        '  interpreter: "/opt/nowhere/bin/python3", max_restarts: "5" },'
        '{ name: "tool", script: "nosuchprogram-ptm", args: ["--once"] },'
        "] };\n",
    )


def test_import_does_not_need_the_apps_files_on_this_machine(tmp_path: Path) -> None:
    path = production_file(tmp_path)
    imported = import_pm2(path, tmp_path / "ecosystem.toml")
    assert imported.apps == ("api", "worker", "tool")
    api, worker, tool = tomllib.loads(imported.text)["apps"]
    assert (api["cwd"], api["script"], api["watch"]) == ("/srv/nowhere/api", "server.js", ["src"])
    assert api["env_production"] == {"NODE_ENV": "production"}
    assert (worker["interpreter"], worker["user"], worker["max_restarts"]) == (
        "/opt/nowhere/bin/python3",
        "nosuchuser-ptm",
        5,
    )
    assert tool["script"] == "nosuchprogram-ptm"
    # What is not here, each said once (not once per env_<name>), naming the PM2 file.
    assert [line.split(": ")[1] for line in imported.absent] == [
        "apps[0].cwd",
        "apps[0].script",
        "apps[0].watch",
        "apps[1].script",
        "apps[1].interpreter",
        "apps[1].user",
        "apps[2].script",
    ]
    assert imported.absent[0] == (
        f"{path}: apps[0].cwd: no such directory: /srv/nowhere/api (got '/srv/nowhere/api')"
    )
    # Starting it is another matter: ptm start refuses the file and the TOML, as before.
    assert config_error(path) == imported.absent[0]
    (tmp_path / "ecosystem.toml").write_text(imported.text)
    with pytest.raises(ConfigError, match=r"apps\[0\]\.cwd: no such directory: /srv/nowhere"):
        load_ecosystem(tmp_path / "ecosystem.toml")
    # Every other mistake is still an error.
    bad = as_json(tmp_path, {"apps": [{"script": "/srv/nowhere/a.py", "max_restarts": "ten"}]})
    with pytest.raises(ConfigError, match=r"apps\[0\]\.max_restarts: must be an integer"):
        import_pm2(bad, tmp_path / "ecosystem.toml")


def test_ptm_import_says_what_is_not_on_this_machine_and_writes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from supervisor_core.cli._main import main

    path = production_file(tmp_path)
    assert main(["import", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"[ptm] wrote {tmp_path / 'ecosystem.toml'} (api, worker, tool)" in out
    lines = err.splitlines()
    assert lines[0] == (
        f"ptm: warning: {path}: apps[0].cwd: no such directory: /srv/nowhere/api"
        " (got '/srv/nowhere/api'): not on this machine; written as it is (ptm start needs it"
        " where the app runs)"
    )
    assert len(lines) == 7 and all(
        line.startswith(f"ptm: warning: {path}: apps[") for line in lines
    )
    assert tomllib.loads((tmp_path / "ecosystem.toml").read_text())["apps"][2]["name"] == "tool"
