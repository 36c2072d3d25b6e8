"""PM2 ecosystem files (``ecosystem.config.js``, ``.json``, ``.yaml``) read as data.

:func:`read_pm2` reads the file into plain data, then :func:`pm2_tables` (``_pm2keys``) turns
PM2's keys into ptm's TOML-shaped tables and notes. The loader compiles the result like any
TOML file, so every value is checked by the same code as a key of ``ecosystem.toml``.

* JavaScript (``.js``, ``.cjs``, ``.mjs``) is evaluated by ``node`` with a small script that
  ``require``s the file (``import()`` for an ES module: ``.mjs``, or ``.js`` in a package
  with ``"type": "module"``) and prints ``JSON.stringify`` of what it
  exports, within :data:`JS_TIMEOUT` seconds, in the file's folder. What the file prints
  itself is ignored; an exception is reported in one line with the file's line number.
* JSON with :mod:`json`; YAML with PyYAML's safe loader (no tags that build objects),
  plain values read as YAML 1.2, as PM2's js-yaml does (see :func:`_yaml_12_loader`).
  PM2 reads a ``.json`` file as a JavaScript expression (comments, trailing commas and
  unquoted keys work there), so a ``.json`` file that is not strict JSON is given to ``node``
  the same way, as PM2 does (``vm``, no ``require``); if that fails too, or there is no
  ``node``, the error is Python's, with its line and column.

Errors are :class:`ConfigError`\\ s naming the file, and the line when it is known.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from supervisor_core.config._pm2keys import Note, pm2_tables
from supervisor_core.errors import ConfigError

__all__ = ["JS_TIMEOUT", "TOO_DEEP", "is_ecosystem_file", "is_pm2_file", "read_pm2"]

TOO_DEEP: Final = "nests too deeply (lists or tables inside each other, hundreds of levels)"
"""Why a file whose values nest deeper than the readers' recursion allows is refused."""
JS_TIMEOUT: Final = 10.0
"""Seconds ``node`` may take to evaluate an ``ecosystem.config.js``."""

_JS_SUFFIXES: Final = (".js", ".cjs", ".mjs")
_DATA_SUFFIXES: Final = (".json", ".yaml", ".yml")
_ECOSYSTEM_NAME: Final = re.compile(r"ecosystem[^/]*\.(js|cjs|mjs|json|yaml|yml)", re.IGNORECASE)
_CONFIG_JS: Final = re.compile(r".+\.config\.(js|cjs|mjs)", re.IGNORECASE)
_MARK: Final = "\x00ptm-pm2\x00"

# Run by node: argv[1] is the file. Its own output goes to stderr, so stdout holds only the
# marked answer. An exception is one JSON line on stdout, with the file's line if the stack
# names it.
_EVALUATE: Final = r"""
const path = require("path");
const url = require("url");
const file = path.resolve(process.argv[1]);
const mark = "\u0000ptm-pm2\u0000";
const out = (text) => process.stdout.write(mark + text + "\n", () => process.exit(0));
console.log = console.info = console.debug = console.error;
function fail(err) {
  const stack = String((err && err.stack) || err);
  let line = null;
  // An ES module's stack names it by URL (file:///a%20b/...), a CommonJS one by path.
  const names = [file, url.pathToFileURL(file).href];
  for (const text of stack.split("\n")) {
    for (const name of names) {
      const at = text.indexOf(name + ":");
      const m = at >= 0 ? /^:(\d+)/.exec(text.slice(at + name.length)) : null;
      if (m && line === null) line = Number(m[1]);
    }
    if (line !== null) break;
  }
  const first = (err && err.name && err.message !== undefined)
    ? err.name + ": " + err.message : String(err);
  out(JSON.stringify({ error: first.split("\n")[0], line }));
}
function done(value) {
  // An ES module loaded by require() (recent node), or compiled to CommonJS: its default.
  if (value && value.__esModule && "default" in value) value = value.default;
  let text;
  try { text = JSON.stringify(value === undefined ? null : value); }
  catch (err) { return fail(err); }
  out(JSON.stringify({ value: text === undefined ? null : JSON.parse(text) }));
}
const load = () => import(url.pathToFileURL(file).href).then((m) => done(m.default), fail);
// A .json file that is not strict JSON: evaluated as one expression, as PM2 does.
const expression = () => {
  const text = require("fs").readFileSync(file, "utf8").replace(/^\uFEFF/, "");
  return require("vm").runInNewContext("(" + text + "\n)", {}, { filename: file, timeout: 5000 });
};
try {
  if (process.argv[2] === "json") done(expression());
  else if (file.endsWith(".mjs")) load();
  else done(require(file));
} catch (err) {
  // A .js file of a package with "type": "module" is an ES module: import() it.
  if (err && err.code === "ERR_REQUIRE_ESM") load(); else fail(err);
}
"""


def is_pm2_file(path: str | os.PathLike[str]) -> bool:
    """A PM2 ecosystem file by its name: ``*.json``, ``*.yaml``, ``*.yml``,
    ``ecosystem*.{js,cjs,mjs}`` or ``*.config.{js,cjs,mjs}`` (as PM2)."""
    name = Path(path).name
    if name.lower().endswith(_DATA_SUFFIXES):
        return True
    return bool(_ECOSYSTEM_NAME.fullmatch(name) or _CONFIG_JS.fullmatch(name))


def is_ecosystem_file(path: str | os.PathLike[str]) -> bool:
    """An ecosystem file by its name (``*.toml``, the ``*.toml.bak`` that ``ptm save`` keeps
    of the previous dump, or a PM2 file), never started as a script."""
    name = os.fspath(path).lower()
    return name.endswith((".toml", ".toml.bak")) or is_pm2_file(path)


def read_pm2(
    path: str | os.PathLike[str], caller_env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], tuple[Note, ...]]:
    """ptm's tables for the PM2 file at ``path``, and what was converted or dropped. A
    JavaScript file is evaluated with ``caller_env`` (the environment of the shell that ran
    ``ptm start``, as PM2 does: ``process.env`` in the file is theirs; ``None``: this
    process's own), by the ``node`` on its ``PATH``."""
    file = os.fspath(path)
    if not os.path.exists(file):
        raise ConfigError("no such file", file=file)
    if os.path.isdir(file):
        raise ConfigError("is a directory, not an ecosystem file", file=file)
    suffix = Path(file).suffix.lower()
    js = suffix in _JS_SUFFIXES
    try:  # json, PyYAML and the conversion all recurse into nested values
        data = _evaluate_js(file, caller_env) if js else _read_data(file, suffix)
        return pm2_tables(data, file)
    except RecursionError:
        raise ConfigError(TOO_DEEP, file=file) from None


def _text(file: str) -> str:
    try:
        raw = Path(file).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=file) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (line {line})", file=file) from None


def _read_data(file: str, suffix: str) -> object:
    text = _text(file)
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            strict = ConfigError(
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=file
            )
        try:  # PM2 reads .json as JavaScript: comments, trailing commas...
            return _evaluate_js(file, json_expression=True)
        except ConfigError:
            raise strict from None
    import yaml  # only for a YAML file

    try:
        return yaml.load(text, Loader=_yaml_12_loader())  # a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise ConfigError(f"invalid YAML{where}: {reason}", file=file) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {' '.join(str(exc).split())}", file=file) from None


def _yaml_12_loader() -> type[Any]:
    """PyYAML's ``SafeLoader`` reading plain scalars as YAML 1.2 does, like PM2's js-yaml 4:
    only ``true``/``false`` are booleans (``NO``, ``on``, ``yes`` stay strings), ``0640`` is
    640, and ``12:30`` is a string, not the base-60 number 750 of YAML 1.1."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    old = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in old]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for tag, pattern, first in (
        ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
        ("int", r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
        (
            "float",
            r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
            r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)",
            "-+0123456789.",
        ),
    ):
        regexp = re.compile(f"^(?:{pattern})$")
        Loader.add_implicit_resolver(f"tag:yaml.org,2002:{tag}", regexp, list(first))  # type: ignore[no-untyped-call]

    def integer(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
        text = str(loader.construct_scalar(node))
        return int(text, 0) if text[:2] in ("0o", "0x") else int(text, 10)

    Loader.add_constructor("tag:yaml.org,2002:int", integer)
    return Loader


def _evaluate_js(
    file: str, env: Mapping[str, str] | None = None, *, json_expression: bool = False
) -> object:
    absolute = os.path.abspath(file)
    try:
        proc = subprocess.Popen(  # with env, node is looked for on env's PATH
            ["node", "-e", _EVALUATE, absolute, *(["json"] if json_expression else [])],
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=os.path.dirname(absolute),
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ConfigError(
            "node is not installed (it evaluates a PM2 .js file); install Node.js, or write"
            " the file as .json or .yaml",
            file=file,
        ) from None
    try:
        out, err = proc.communicate(timeout=JS_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ConfigError(
            f"node did not finish evaluating the file within {JS_TIMEOUT:g}s"
            " (does it wait for something, or loop?)",
            file=file,
        ) from None
    answer = _answer(out.decode("utf-8", "replace"))
    if answer is None:
        detail = _last_lines(err.decode("utf-8", "replace"))
        raise ConfigError(
            f"node could not evaluate it (exit code {proc.returncode})"
            + (f": {detail}" if detail else ""),
            file=file,
        )
    if "error" in answer:
        line = answer.get("line")
        where = f"line {line}: " if isinstance(line, int) else ""
        raise ConfigError(f"{where}{answer['error']} (evaluated by node)", file=file)
    return answer.get("value")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def _answer(out: str) -> Mapping[str, Any] | None:
    at = out.rfind(_MARK)
    if at < 0:
        return None
    try:
        answer = json.loads(out[at + len(_MARK) :])
    except json.JSONDecodeError:
        return None
    return answer if isinstance(answer, dict) else None


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = " | ".join(lines[-count:])
    return joined if len(joined) <= 400 else joined[:397] + "..."
