"""Settings: precedence, parsing, and secrets that never show."""

import logging
from pathlib import Path

import pytest

from vats_etl.config import Secret, load_settings, normalize_base_url
from vats_etl.errors import ConfigError

KEY = "k3y-must-not-leak-0123456789"


def test_defaults_match_the_design_table(tmp_path: Path):
    settings = load_settings(environ={}, env_file=tmp_path / "missing.env")
    assert settings.db_path == Path("data/vats.duckdb")
    assert settings.raw_dir == Path("data/raw")
    assert settings.tz == "Europe/Moscow"
    assert settings.base_url is None and settings.api_key is None
    assert settings.read_db_path == Path("data/vats.read.duckdb")


def test_precedence_env_file_then_environment_then_flags(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "VATS_TZ=Europe/Berlin\nVATS_DB=/from/file.duckdb\nVATS_RAW_DIR=/raw/file\n"
    )
    settings = load_settings(
        {"raw_dir": "/raw/flag"},
        environ={"VATS_DB": "/from/env.duckdb", "VATS_RAW_DIR": "/raw/env"},
        env_file=env_file,
    )
    assert settings.tz == "Europe/Berlin"
    assert settings.db_path == Path("/from/env.duckdb")
    assert settings.raw_dir == Path("/raw/flag")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("acme.megapbx.ru", "https://acme.megapbx.ru/crmapi/v1"),
        ("https://acme.megapbx.ru/crmapi/v1/", "https://acme.megapbx.ru/crmapi/v1"),
        ("http://127.0.0.1:8080/crmapi/v1", "http://127.0.0.1:8080/crmapi/v1"),
        # any operator's domain: nothing but the host differs between them
        ("pbx.example.by", "https://pbx.example.by/crmapi/v1"),
        (" vats.example.md/ ", "https://vats.example.md/crmapi/v1"),
        ("company.vpbx.example.kz:8443", "https://company.vpbx.example.kz:8443/crmapi/v1"),
        ("атс.пример.рф", "https://атс.пример.рф/crmapi/v1"),
        ("acme.megapbx.ru/crmapi/v1", "https://acme.megapbx.ru/crmapi/v1"),
        # the cabinet's address as pasted from a browser
        ("https://acme.megapbx.ru", "https://acme.megapbx.ru/crmapi/v1"),
        ("https://pbx.example.by/", "https://pbx.example.by/crmapi/v1"),
    ],
)
def test_base_url_bare_domain_or_url(given, expected):
    assert normalize_base_url(given) == expected


@pytest.mark.parametrize("bad", ["ftp://x/y", "acme.ru/crmapi", "  ", "https://", "/crmapi/v1"])
def test_bad_base_url_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        normalize_base_url(bad)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VATS_TZ": "Mars/Olympus"}, "time zone"),
        ({"SMTP_SECURITY": "tls"}, "SMTP_SECURITY"),
        ({"SMTP_PORT": "twenty-five"}, "whole number"),
        ({"VATS_PAGE_LIMIT": "0"}, "at least 1"),
    ],
)
def test_invalid_values_give_clear_errors(env, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=env, env_file=None)


def test_report_to_is_a_list():
    settings = load_settings(environ={"REPORT_TO": "a@x.ru, b@x.ru;c@x.ru"}, env_file=None)
    assert settings.report_to == ("a@x.ru", "b@x.ru", "c@x.ru")


def test_secrets_never_show_in_repr_str_or_logs(caplog):
    settings = load_settings(
        environ={"VATS_API_KEY": KEY, "VATS_CRM_TOKEN": KEY + "t", "SMTP_PASSWORD": KEY + "p"},
        env_file=None,
    )
    assert isinstance(settings.api_key, Secret)
    assert settings.api_key.reveal() == KEY
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    for text in (repr(settings), str(settings), caplog.text, f"{settings.api_key}"):
        assert KEY not in text
    assert "********" in repr(settings)


def test_require_api_names_the_missing_variable():
    with pytest.raises(ConfigError, match="VATS_BASE_URL"):
        load_settings(environ={}, env_file=None).require_api()
    with pytest.raises(ConfigError, match="VATS_API_KEY"):
        load_settings(environ={"VATS_BASE_URL": "a.ru"}, env_file=None).require_api()


def test_unknown_override_is_rejected():
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({"colour": "blue"}, environ={}, env_file=None)
