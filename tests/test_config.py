"""The config file: keys and lines in errors, relative paths, precedence flags > env > file > defaults."""

from __future__ import annotations

import json

import pytest

from tests.test_cli_nightly import orders_text
from winback.cli import app
from winback.config import Config, key_lines, load_config


@pytest.fixture(autouse=True)
def _no_home(tmp_path, monkeypatch):
    for var in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "xdg"))
    for var in ("WINBACK_CONFIG", "WINBACK_STATE", "WINBACK_LOG", "WINBACK_COOLDOWN_DAYS", "WINBACK_CONTROL_SHARE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def write(tmp_path, text):
    path = tmp_path / "winback.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_values_and_resolves_paths_next_to_the_file(tmp_path):
    cfg = load_config(write(tmp_path, '[input]\nfiles = ["o.csv"]\n[input.columns]\ncustomer_id = "Cari"\n'
                                      '[list]\ntop = "all"\n[nightly]\nstate = "s.db"\ncontrol_share = 0.2\n'))
    assert cfg.files == [str(tmp_path / "o.csv")]
    assert cfg.columns == {"customer_id": "Cari"}
    assert cfg.all is True and cfg.top is None
    assert cfg.state == str(tmp_path / "s.db") and cfg.control_share == 0.2
    assert cfg.cooldown_days is None  # not set: the CLI falls back to the default


@pytest.mark.parametrize(("text", "message"), [
    ('[list]\n\ntop = 0\n', "line 3: list.top must be a whole number of at least 1, not 0."),
    ('[nightly]\ncooldown = 5\n', "line 2: unknown key nightly.cooldown; did you mean nightly.cooldown_days?"),
    ('[lists]\ntop = 5\n', "line 1: unknown section [lists]; did you mean [list]?"),
    ('[output]\nformat = "pdf"\n', 'line 2: output.format must be one of "csv", "xlsx", "json", not \'pdf\'.'),
    ('[nightly]\ncontrol_share = 1.5\n', "line 2: nightly.control_share must be a number from 0 to below 1"),
    ('[list]\ntop = \n', "Invalid value (at line 2, column 7)"),
])
def test_errors_name_the_key_and_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(Exception) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_config_error_is_exit_7_one_line(runner, tmp_path):
    path = write(tmp_path, '[list]\ntop = -1\n')
    result = runner.invoke(app, ["scan", "o.csv", "--config", str(path)])
    assert result.exit_code == 7
    assert result.stderr == (f"Error: {path} line 2: list.top must be a whole number of at least 1, not -1.\n")
    missing = runner.invoke(app, ["scan", "o.csv", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 7 and "winback init" in missing.stderr


def test_bad_segment_in_config_names_the_line(runner, tmp_path):
    (tmp_path / "o.csv").write_text(orders_text(), encoding="utf-8")
    path = write(tmp_path, '[input]\nfiles = ["o.csv"]\n[list]\nsegments = ["vip"]\n')
    result = runner.invoke(app, ["scan", "--config", str(path), "--no-state"])
    assert result.exit_code == 7
    assert result.stderr.startswith(f"Error: {path} line 4: list.segments 'vip' is not a segment")


def test_precedence_flag_over_env_over_file(runner, tmp_path, monkeypatch):
    (tmp_path / "o.csv").write_text(orders_text(), encoding="utf-8")
    path = write(tmp_path, '[input]\nfiles = ["o.csv"]\n[list]\ntop = 4\n[nightly]\ncooldown_days = 10\n'
                           f'state = "{tmp_path / "s.db"}"\nlog = "w.log"\n')

    def run(*extra):
        result = runner.invoke(app, ["scan", "--config", str(path), "--as-of", "2025-12-01", "--json", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    data = run()
    assert data["nightly"]["cooldown"]["days"] == 10 and data["call_list"]["rows"] == 4
    assert data["call_list"]["path"] == "calls-2025-12-01.csv"
    monkeypatch.setenv("WINBACK_COOLDOWN_DAYS", "20")
    assert run()["nightly"]["cooldown"]["days"] == 20
    assert run("--cooldown-days", "30")["nightly"]["cooldown"]["days"] == 30
    assert run("--top", "6")["call_list"]["rows"] == 6
    assert (tmp_path / "w.log").exists()
    monkeypatch.setenv("WINBACK_CONFIG", str(path))
    assert run()["nightly"]["state"] == str(tmp_path / "s.db")


def test_key_lines():
    assert key_lines('a = 1\n[list]\n# c\ntop = 5\n"quoted" = 1\n') == {"a": 1, "list": 2, "list.top": 4,
                                                                          "list.quoted": 5}
    assert Config().path is None
