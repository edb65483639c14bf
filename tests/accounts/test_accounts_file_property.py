"""Any accounts file either loads or fails with one `error:` line — never a traceback, never
a key's value on the terminal.

Generated files mix good values with what operators get wrong: names of any text, paths
with spaces, `..`, control characters or pointing at each other, numbers that are nan,
inf, negative or not numbers, keys pasted where a variable's name belongs, folders two
accounts share through a symlink, bytes that are not UTF-8. `vats-etl accounts --no-check`
(which loads the file and lists every account with its settings, calling no API) runs in
this process, as the console script runs it."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli.support import vats

# Every key's value starts so: none can appear in the output by chance.
KEY_PREFIX = "SeCrEt9"
KEY_VARIABLES = ("ACME_KEY", "BETA_API_KEY", "GAMMA_TOKEN")


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Good values four times in five (one_of would flatten `bad`'s own branches and pick
    among them all alike)."""
    return st.integers(0, 4).flatmap(lambda pick: good if pick else bad)


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
junk = st.one_of(text, st.integers(), st.floats(), st.booleans(), st.lists(text, max_size=2))
slug = st.from_regex(r"[a-z0-9](?:[a-z0-9_-]{0,10}[a-z0-9])?", fullmatch=True)
segment = st.one_of(
    st.sampled_from(["data", "..", ".", "acme", "kpi.toml", "accounts.toml", "a b", "ключи"]),
    slug,
)
path = st.lists(segment, min_size=1, max_size=3).map("/".join)
bad_path = st.lists(text, min_size=1, max_size=3).map("/".join)
rate = st.one_of(st.integers(1, 50), st.floats(0.1, 100))
bad_rate = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, 0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 0),
)
key_value = st.text("0123456789abcdef", min_size=8, max_size=24).map(lambda h: KEY_PREFIX + h)
keys = st.fixed_dictionaries({v: key_value for v in KEY_VARIABLES})


def fields(found_keys: dict[str, str]) -> dict[str, tuple[st.SearchStrategy[Any], ...]]:
    """Each field of an account: (its good values, what operators get wrong)."""
    variable = st.one_of(
        st.sampled_from(KEY_VARIABLES), st.from_regex(r"[A-Z_][A-Z0-9_]{0,12}", fullmatch=True)
    )
    pasted = st.one_of(
        st.sampled_from(sorted(found_keys.values())),  # a key where its variable's name goes
        st.text("0123456789abcdef", min_size=16, max_size=40),
        text,
    )
    return {
        "base_url": (
            st.sampled_from(["http://127.0.0.1:9/x", "acme.megapbx.ru"]),
            st.sampled_from(["ftp://x", "a b", "http://", "http://a:99999/x", ""]),
        ),
        "key_env": (variable, pasted),
        "tz": (
            st.sampled_from(["Europe/Moscow", "Asia/Omsk"]),
            st.sampled_from(["Mars/Base", "Europe", "../etc", "Europe/Moscow\n"]),
        ),
        "email_routing": (path, bad_path),
        "kpi_settings": (path, bad_path),
        "report_to": (
            st.sampled_from(["boss@acme.ru", ["a@b.ru", "c@d.ru"]]),
            st.sampled_from(["not an address", "", ["x"]]),
        ),
        "dashboard_url": (
            st.just("https://calls.acme.ru/"),
            st.sampled_from(["javascript:x", "https://a\n", "https://a b"]),
        ),
        "crm_token_env": (variable, pasted),
        "api_rate_limit": (rate, bad_rate),
        "work_queue": (slug, text),
    }


def toml_string(s: str) -> str:
    escaped = "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F or c in '"\\' else c for c in s
    )
    return f'"{escaped}"'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(item) for item in v) + "]"
    return toml_string(str(v))


@st.composite
def accounts_files(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bool]:
    """(the file's bytes, the environment's keys, whether two accounts share a folder).

    A careful file takes only good values of each kind (paths, names and numbers still
    drawn at random); a careless one gets every fifth value wrong, of any type."""
    found_keys = draw(keys)
    careful = draw(st.booleans())

    def pick(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
        return draw(good if careful else mostly(good, st.one_of(bad, junk)))

    lines: list[str] = []
    for key, good, bad in (("root", path, bad_path), ("catalog", path, bad_path)):
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"{key} = {toml_value(pick(good, bad))}")
    if draw(st.integers(0, 3)) == 0:
        lines.append(f"api_rate_limit = {toml_value(pick(rate, bad_rate))}")
    bad_name = st.one_of(slug.map(lambda n: n + "\n"), slug.map(str.upper), text)
    names = draw(
        st.lists(slug if careful else mostly(slug, bad_name), min_size=1, max_size=4, unique=True)
    )
    for account in names:
        lines.append(f"[accounts.{toml_string(account)}]")
        for key, (good, bad) in fields(found_keys).items():
            required = key in ("base_url", "key_env", "tz")
            if (required and (careful or draw(st.integers(0, 19)) > 0)) or draw(
                st.integers(0, 3)
            ) == 0:
                lines.append(f"{key} = {toml_value(pick(good, bad))}")
        if not careful and draw(st.integers(0, 19)) == 0:
            lines.append(f"api_key = {toml_string(found_keys['ACME_KEY'])}")  # in the file
    if draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3))
        if not careful and draw(st.booleans()):
            members.append(draw(junk))
        lines.append("[groups]")
        lines.append(f"{toml_string(draw(slug if careful else text))} = {toml_value(members)}")
    body = ("\n".join(lines) + "\n").encode("utf-8")
    if not careful and draw(st.integers(0, 19)) == 0:
        body += b"# \xff\xfe " + found_keys["ACME_KEY"].encode("utf-16")  # not UTF-8
    # two accounts sharing a folder through a symlink, in the default root
    shared = not lines[0].startswith("root =") and draw(st.integers(0, 5)) == 0
    return body, found_keys, shared


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(accounts_files())
def test_any_accounts_file_loads_or_fails_in_one_line(generated) -> None:
    body, found_keys, shared = generated
    with tempfile.TemporaryDirectory() as folder:
        accounts = Path(folder) / "accounts.toml"
        accounts.write_bytes(body)
        if shared:  # accounts one and two, added, share a folder through a symlink
            root = Path(folder) / "data" / "accounts"
            (root / "one").mkdir(parents=True)
            (root / "two").symlink_to(root / "one")
            accounts.write_bytes(
                body + b'[accounts.one]\nbase_url = "acme.megapbx.ru"\nkey_env = "ACME_KEY"\n'
                b'tz = "Europe/Moscow"\n[accounts.two]\nbase_url = "acme.megapbx.ru"\n'
                b'key_env = "ACME_KEY"\ntz = "Europe/Moscow"\n'
            )
        ran = vats("accounts", "--no-check", env={"VATS_ACCOUNTS": str(accounts), **found_keys})
    everything = ran.stdout + ran.stderr
    assert "Traceback" not in everything, everything
    assert KEY_PREFIX not in everything, everything
    if ran.code == 0:
        assert ran.error_lines() == [] and "accounts of" in ran.stdout
    else:
        assert ran.code == 1, everything
        assert ran.stderr.count("\n") == 1 and ran.stderr.startswith("error: "), ran.stderr
    if shared and ran.code == 0:
        raise AssertionError("two accounts in one folder were accepted")
