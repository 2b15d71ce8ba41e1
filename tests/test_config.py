from __future__ import annotations

import pytest

from idpsync.config import ConfigError, load_config, parse_config
from idpsync.config_errors import locate_key

GOOD = """\
[store]
url = "sqlite:///x.db"

[connectors.hr.source]
type = "file"
path = "people.json"

[connectors.hr.guard]
max_deactivate_share = 0.2
"""


def test_valid_config_loads_with_defaults() -> None:
    settings = parse_config(GOOD)
    hr = settings.connectors["hr"]
    assert hr.source.path == "people.json"
    assert hr.guard.max_deactivate_share == 0.2
    assert hr.policy.deprovision == "deactivate"


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "idpsync.toml")
    return info.value.problems


def test_unknown_key_is_named_with_its_line() -> None:
    text = GOOD.replace('path = "people.json"', 'path = "people.json"\npaht = "typo.json"')
    assert _problems(text) == [
        "idpsync.toml:7: connectors.hr.source.paht: unknown key (check its spelling and the "
        "table it is in)"
    ]


def test_wrong_type_names_key_and_line() -> None:
    text = GOOD.replace("max_deactivate_share = 0.2", 'max_deactivate_share = "lots"')
    (problem,) = _problems(text)
    assert problem.startswith("idpsync.toml:9: connectors.hr.guard.max_deactivate_share: ")
    assert "number" in problem


def test_missing_required_key_points_at_its_table() -> None:
    text = GOOD.replace('path = "people.json"\n', "")
    assert _problems(text) == ["idpsync.toml:4: connectors.hr.source.path: required key is missing"]


def test_unknown_source_type() -> None:
    (problem,) = _problems(GOOD.replace('type = "file"', 'type = "ldapp"'))
    assert problem.startswith("idpsync.toml:5: connectors.hr.source.type: unknown source type")


def test_invalid_toml_reports_position() -> None:
    (problem,) = _problems("[store\nurl = 1")
    assert problem.startswith("idpsync.toml: not valid TOML:")


def test_bad_store_url_and_connector_name() -> None:
    text = GOOD.replace("sqlite:///x.db", "mysql://x").replace("connectors.hr", 'connectors."h r"')
    problems = _problems(text)
    assert any("store.url" in p and "postgresql+psycopg" in p for p in problems)
    assert any("connectors: name 'h r'" in p for p in problems)


def test_dotted_keys_and_quoted_tables_are_located() -> None:
    text = '[connectors."my-hr"]\nsource.type = "file"\nsource.path = 3\n'
    assert locate_key(text, ("connectors", "my-hr", "source", "path")) == 3


def test_missing_file_and_env_override(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config()
    assert "idpsync.toml: file not found" in info.value.problems[0]
    path = tmp_path / "other.toml"
    path.write_text(GOOD, encoding="utf-8")
    monkeypatch.setenv("IDPSYNC_CONFIG", str(path))
    assert load_config().path == path.resolve()


def test_relative_paths_resolve_against_config_folder(tmp_path) -> None:
    path = tmp_path / "idpsync.toml"
    path.write_text(GOOD, encoding="utf-8")
    loaded = load_config(str(path))
    assert loaded.resolve_path("people.json") == tmp_path / "people.json"
