"""What the accounts file may say: every input gets one line naming the file and the key,
never a traceback and never a key's value; and every path it names is resolved (symlinks
included) and refused where it would mix accounts up."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.cli.support import vats
from vats_etl import errors, warehouse
from vats_etl.accounts import load_accounts, looks_like_a_key
from vats_etl.weekly_email import load_routing

# The discard port: nothing listens, so a command that calls the API fails at once.
ACCOUNT = (
    '[accounts.{name}]\nbase_url = "http://127.0.0.1:9/{name}"\nkey_env = "{var}"\n'
    'tz = "Europe/Moscow"\n'
)


def account(name: str, var: str | None = None, more: str = "") -> str:
    return ACCOUNT.format(name=name, var=var or f"{name.upper()}_KEY") + more


def write(folder: Path, text: str, name: str = "accounts.toml") -> Path:
    path = folder / name
    path.write_text(text, "utf-8")
    return path


def refused(path: Path, *expected: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(errors.ConfigError) as caught:
        load_accounts(path, environ)
    message = str(caught.value)
    for text in expected:
        assert text in message, message
    return message


# -- one line for every input ---------------------------------------------------------------


def test_files_that_are_not_utf8_are_one_line_naming_the_file(tmp_path: Path) -> None:
    secret = "ключ-0123456789".encode("cp1251")  # a key pasted in the wrong encoding
    accounts = tmp_path / "accounts.toml"
    accounts.write_bytes(account("acme").encode() + b"# " + secret + b"\n")
    message = refused(accounts, str(accounts), "not UTF-8 text", "line 5")
    assert "ключ" not in message and "\\x" not in message

    kpi = tmp_path / "kpi.toml"
    kpi.write_bytes(b"service_level_s = 30\n# \xff\xfe\n")
    with pytest.raises(errors.ConfigError, match=r"KPI settings .*kpi.toml is not UTF-8 text"):
        warehouse.read_kpi_file(kpi)
    routing = tmp_path / "routing.toml"
    routing.write_bytes(b'rollup = ["boss@acme.ru"]\n# \xc0\n')
    with pytest.raises(errors.ConfigError, match=r"routing file .*routing.toml is not UTF-8"):
        load_routing(routing)

    ran = vats("accounts", "--no-check", env={"VATS_ACCOUNTS": str(accounts)})
    assert ran.code == 1 and "Traceback" not in ran.stderr
    assert ran.stderr.splitlines() == [ran.error_lines()[0]]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "true", '"5"'])
@pytest.mark.parametrize("where", ["top", "account"])
def test_a_rate_limit_must_be_a_finite_positive_number(value: str, where: str, tmp_path) -> None:
    text = (
        f"api_rate_limit = {value}\n" + account("acme")
        if where == "top"
        else account("acme", more=f"api_rate_limit = {value}\n")
    )
    refused(write(tmp_path, text), "api_rate_limit must be a positive number")


@pytest.mark.parametrize(
    "value", ["nan", "inf", "-5", "1.5", '"20"', "true"], ids=lambda v: f"value={v}"
)
def test_kpi_numbers_that_are_not_whole_and_positive_are_one_line(value: str, tmp_path) -> None:
    kpi = write(tmp_path, f"service_level_s = {value}\n", "kpi.toml")
    with pytest.raises(errors.ConfigError, match=r"kpi.toml: service_level_s must be a whole"):
        warehouse.read_kpi_file(kpi)


def test_names_match_the_slug_rule_in_full(tmp_path: Path) -> None:
    text = account("acme").replace("[accounts.acme]", '[accounts."acme\\n"]')
    message = refused(write(tmp_path, text), "must be a slug")
    assert "\n" not in message  # shown as 'acme\n', on one line
    refused(
        write(tmp_path, account("acme").replace('"ACME_KEY"', '"ACME_KEY\\n"')),
        "key_env must name an environment variable",
    )


def test_text_values_are_one_line(tmp_path: Path) -> None:
    for key, value in (
        ("tz", '"Europe/Moscow\\n"'),
        ("work_queue", '"host-a\\r\\nX: y"'),
        ("email_routing", '"routing\\u0000.toml"'),
    ):
        text = account("acme").replace('tz = "Europe/Moscow"\n', "") + (
            f"{key} = {value}\n" + ('tz = "Europe/Moscow"\n' if key != "tz" else "")
        )
        refused(write(tmp_path, text), f"{key} must be one line of text")


@pytest.mark.parametrize(
    ("groups", "said"),
    [
        ('North = ["acme"]\nnorth = ["beta"]\n', "groups 'North' and 'north' differ only in case"),
        ('"a b" = ["acme"]\n"a-b" = ["beta"]\n', "would share one catalog file"),
        ('north = ["acme", 5]\n', "group 'north' must list account names"),
        ("north = [{}]\n", "group 'north' must list account names"),
        ('"" = ["acme"]\n', "needs a name of one line"),
    ],
)
def test_groups_are_unique_ignoring_case_and_list_names(groups, said, tmp_path) -> None:
    text = account("acme") + account("beta") + "[groups]\n" + groups
    refused(write(tmp_path, text), said)


@pytest.mark.parametrize(
    "variable",
    [
        "deadbeefcafebabe0123456789abcdef",  # hex: a valid identifier all the same
        "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGtleQ",  # base64-like: both cases and digits, no _
        "Z9yK2pQ4mX7vN1sT8wR3",
    ],
)
def test_a_key_in_a_variables_place_is_refused_without_showing_it(variable, tmp_path) -> None:
    path = write(tmp_path, account("acme", variable))
    message = refused(path, "key_env must name an environment variable")
    assert variable not in message
    ran = vats("accounts", "--no-check", env={"VATS_ACCOUNTS": str(path)})
    assert ran.code == 1 and variable not in ran.stdout + ran.stderr
    token = write(tmp_path, account("acme", more=f'crm_token_env = "{variable}"\n'))
    assert variable not in refused(token, "crm_token_env must name an environment variable")


def test_a_variable_named_by_the_value_of_a_secret_variable_is_refused(tmp_path) -> None:
    """MYPBXKEY looks like a variable's name, but it is what another key variable holds: a
    key pasted in the wrong place. Only the environment tells."""
    path = write(tmp_path, account("acme", "MYPBXKEY"))
    assert load_accounts(path, {"OTHER": "MYPBXKEY"}).get("acme").key_env == "MYPBXKEY"
    message = refused(path, "looks like a key", environ={"BETA_API_KEY": "MYPBXKEY"})
    assert "MYPBXKEY" not in message
    ran = vats("accounts", "--no-check", env={"VATS_ACCOUNTS": str(path), "SHOP_TOKEN": "MYPBXKEY"})
    assert ran.code == 1 and "MYPBXKEY" not in ran.stdout + ran.stderr
    assert len(ran.error_lines()) == 1


def test_ordinary_variable_names_do_not_look_like_keys() -> None:
    for name in ("ACME_VATS_KEY", "BETA_KEY", "key", "K", "AcmeKey", "VATS_API_KEY_2024"):
        assert not looks_like_a_key(name), name
    assert looks_like_a_key("ABCDEF0123456789ABCD")


# -- paths that would mix accounts up ----------------------------------------------------------


def test_two_accounts_resolving_to_one_folder_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "data" / "accounts"
    (root / "good2").mkdir(parents=True)
    (root / "good3").symlink_to(root / "good2")
    path = write(tmp_path, account("good1") + account("good2") + account("good3"))
    refused(path, "accounts good2 and good3 resolve to one folder", "symlink")


def test_an_account_folder_inside_another_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data" / "accounts"
    (root / "outer" / "inner").mkdir(parents=True)
    (root / "alpha").symlink_to(root / "outer" / "inner")
    path = write(tmp_path, account("outer") + account("alpha"))
    refused(path, "account alpha's folder", "is inside account outer's")


@pytest.mark.parametrize(
    ("catalog", "said"),
    [
        ("data/accounts/good2/vats.duckdb", "is inside account good2's folder"),
        ("data/accounts/good1/raw/catalog.duckdb", "is inside account good1's folder"),
        ("accounts.toml", "is the accounts file itself"),
        ("kpi.toml", "is account good1's kpi_settings file"),
    ],
)
def test_a_catalog_where_it_would_replace_what_is_not_a_catalog(catalog, said, tmp_path) -> None:
    text = f'catalog = "{catalog}"\n' + account("good1", more='kpi_settings = "kpi.toml"\n')
    refused(write(tmp_path, text + account("good2")), said)


def test_a_catalog_through_a_symlink_into_an_account_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data" / "accounts" / "good2").mkdir(parents=True)
    (tmp_path / "elsewhere").symlink_to(tmp_path / "data" / "accounts" / "good2")
    text = 'catalog = "elsewhere/catalog.duckdb"\n' + account("good1") + account("good2")
    refused(write(tmp_path, text), "is inside account good2's folder")


def test_files_an_account_reads_are_checked(tmp_path: Path) -> None:
    (tmp_path / "data" / "accounts" / "beta").mkdir(parents=True)
    (tmp_path / "data" / "accounts" / "beta" / "kpi.toml").write_text("", "utf-8")
    with duckdb.connect(str(tmp_path / "single.duckdb")) as con:
        con.execute("create table calls (uid varchar)")
    cases = [
        ('kpi_settings = "accounts.toml"\n', "kpi_settings", "is the accounts file itself"),
        ('email_routing = "single.duckdb"\n', "email_routing", "is a DuckDB file"),
        ('kpi_settings = "data/accounts/beta/kpi.toml"\n', "kpi_settings", "account beta's"),
    ]
    for line, key, said in cases:
        text = account("acme", more=line) + account("beta")
        refused(write(tmp_path, text), f"[accounts.acme]: {key}", said)
    own = account("acme") + account("beta", more='kpi_settings = "data/accounts/beta/kpi.toml"\n')
    assert load_accounts(write(tmp_path, own)).get("beta").kpi_settings is not None


def test_a_root_that_is_or_is_inside_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root").write_text("not a folder", "utf-8")
    refused(write(tmp_path, 'root = "root"\n' + account("acme")), "root", "is a file")
    with duckdb.connect(str(tmp_path / "vats.duckdb")) as con:
        con.execute("create table calls (uid varchar)")
    text = 'root = "vats.duckdb/accounts"\n' + account("acme")
    refused(write(tmp_path, text), "root", "is a file, or inside one")


def test_a_good_file_with_real_folders_loads(tmp_path: Path) -> None:
    root = tmp_path / "data" / "accounts"
    (tmp_path / "disk" / "acme").mkdir(parents=True)
    root.mkdir(parents=True)
    (root / "acme").symlink_to(tmp_path / "disk" / "acme")  # one account on another disk
    found = load_accounts(write(tmp_path, account("acme") + account("beta")))
    assert found.names == ["acme", "beta"]


# -- the command line: an account's warehouse and archive are its own --------------------------


@pytest.fixture
def two(tmp_path: Path) -> dict[str, str]:
    path = write(tmp_path, account("good1") + account("good2"))
    return {"VATS_ACCOUNTS": str(path), "GOOD1_KEY": "k-good1", "GOOD2_KEY": "k-good2"}


@pytest.mark.slow  # --all-accounts: good2 goes on to its daily run, which starts Prefect
@pytest.mark.parametrize(
    ("option", "variable", "place"),
    [("--db", "VATS_DB", "vats.duckdb"), ("--raw-dir", "VATS_RAW_DIR", "raw/account=good2")],
)
def test_another_accounts_warehouse_or_archive_is_refused(option, variable, place, two) -> None:
    other = str(Path(two["VATS_ACCOUNTS"]).parent / "data" / "accounts" / "good2" / place)
    days = ("backfill", "--from", "2024-06-03", "--to", "2024-06-03")
    for args, env in (
        (("--account", "good1", option, other, *days), two),
        (("--account", "good1", *days), {**two, variable: other}),
        (("--all-accounts", "daily"), {**two, variable: other}),
    ):
        ran = vats(*args, env=env)
        assert ran.code == 1, ran.stderr
        error = ran.error_lines()[0]  # --all-accounts: then good2's own (a fake host)
        assert f"names {other}, but account good1 keeps its" in error, error
        assert not (Path(other).parent / "vats.duckdb").exists()  # nothing was opened


def test_the_accounts_own_warehouse_may_be_named(two) -> None:
    own = Path(two["VATS_ACCOUNTS"]).parent / "data" / "accounts" / "good1" / "vats.duckdb"
    ran = vats("--account", "good1", "--db", str(own), "check", env=two)
    assert "but account good1 keeps" not in ran.stderr  # refused only for another's
    assert ran.error_lines() and "gave up" in ran.error_lines()[0]  # the host is a fake one


def test_a_single_account_setting_of_another_file_is_left_to_the_single_account(two) -> None:
    """Commands over the accounts file (accounts, catalog) ignore VATS_DB: it is the single
    account's, and they write no account's warehouse through it."""
    ran = vats("accounts", "--no-check", env={**two, "VATS_DB": "/elsewhere/vats.duckdb"})
    assert ran.code == 0, ran.stderr
