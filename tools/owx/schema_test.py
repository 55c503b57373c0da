"""schema_test.py: schema/ow_schema.h, its Python mirror (schema.py) and docs/redis-schema.md name
the same keys and channels (run: /usr/bin/python3 -m pytest tools/owx/schema_test.py).

The header is the one table; the mirror is kept by hand (the tools run where no header is
installed), and this test fails when either has a name the other lacks or spells it differently.
"""

import ast
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))

from owx import activation, schema  # noqa: E402

HEADER = os.path.join(REPO, "schema", "ow_schema.h")
DOC = os.path.join(REPO, "docs", "redis-schema.md")


def header_macros():
    """{name: (params or None, body)} of every #define, comments removed, lines joined."""
    text = re.sub(r"/\*.*?\*/", " ", open(HEADER).read(), flags=re.S)
    text = text.replace("\\\n", " ")
    macros = {}
    for m in re.finditer(r"^#define\s+(\w+)(\([^)]*\))?[ \t]*(.*)$", text, flags=re.M):
        params = [p.strip() for p in m.group(2)[1:-1].split(",")] if m.group(2) else None
        macros[m.group(1)] = (params, m.group(3).strip())
    return macros


def c_strings(body):
    """The value of a body made of C string literals only (adjacent ones joined), else None."""
    parts = re.findall(r'"(?:[^"\\]|\\.)*"', body)
    if not parts or re.sub(r'"(?:[^"\\]|\\.)*"', "", body).strip():
        return None
    return "".join(ast.literal_eval(p) for p in parts)


def python_name(macro):
    """OW_KEY_X -> x_key (a format) or X_KEY; OW_CHANNEL_X -> X_CHANNEL."""
    if macro.startswith("OW_CHANNEL_"):
        return macro[len("OW_CHANNEL_"):] + "_CHANNEL"
    return macro[len("OW_KEY_"):] + "_KEY"


def schema_names():
    """The macros of the header that name a key or a channel, with their values."""
    names = {}
    for name, (params, body) in header_macros().items():
        if name.startswith(("OW_KEY_", "OW_CHANNEL_")):
            value = c_strings(body)
            assert params is None and value is not None, "%s: not a string literal" % name
            names[name] = value
    return names


def test_every_header_name_is_in_the_mirror():
    for macro, value in schema_names().items():
        name, args = python_name(macro), ("n", "x", "y")[:value.count("%s")]
        if args:
            fn = getattr(schema, name.lower(), None)
            assert callable(fn), "schema.py lacks %s() for %s" % (name.lower(), macro)
            assert fn(*args) == value % args, macro
        else:
            assert getattr(schema, name, None) == value, "schema.py: %s != %s" % (name, macro)


def test_every_mirror_name_is_in_the_header():
    macros = {python_name(m) for m in schema_names()}
    api_key_hashing = {"hash_key", "verify_key"}   # an API key (credential), not a Redis key
    mirrored = {n for n in vars(schema) if n.endswith(("_KEY", "_CHANNEL"))}
    mirrored |= {n.upper() for n, v in vars(schema).items()
                 if n.endswith("_key") and callable(v) and n not in api_key_hashing}
    assert mirrored - macros == set(), "in schema.py, not in schema/ow_schema.h"


def test_every_name_is_documented():
    """docs/redis-schema.md spells patterns as `owx:{ns}:e:<path>`: {ns} and <...> are the %s."""
    documented = set()
    for spelled in re.findall(r"`(owx:[^`]*)`", open(DOC).read()):
        documented.add(re.sub(r"<[^>]*>", "%s", spelled.replace("{ns}", "{%s}")))
    assert set(schema_names().values()) == documented


def test_lua_key_builder_matches_the_key():
    params, body = header_macros()["OW_LUA_KEY_ENTITY"]
    assert params == ["ns", "path"]
    lua = c_strings(re.sub(r"\bpath\b", "\"'x'\"", re.sub(r"\bns\b", "\"'n'\"", body)))
    assert "".join(ast.literal_eval(p) for p in lua.split(" .. ")) == schema.entity_key("n", "x")


def test_write_script_is_the_reference_writers():
    _, body = header_macros()["OW_LUA_WRITE_ACTIVATION"]
    assert c_strings(body) == activation.WRITE_LUA


def test_retention_default():
    _, body = header_macros()["OW_ACTIVATION_RETENTION_DEFAULT"]
    assert eval(body) == schema.ACTIVATION_RETENTION_DEFAULT  # "(7 * 24 * 3600)"


def test_chart_spells_only_schema_keys():
    """Helm templates cannot read the header: every key or ACL key pattern they spell is one of
    the schema's (a pattern: its parts replaced by *), or owx:* (all keys)."""
    known = set(schema_names().values())
    known |= {v.replace("%s", "*") for v in known} | {"owx:*"}
    templates = os.path.join(REPO, "helm", "owx", "templates")
    for name in os.listdir(templates):
        text = open(os.path.join(templates, name)).read()
        for spelled in re.findall(r"owx:[^\s\"'`]*", text):
            assert spelled in known, "%s: %s is not in schema/ow_schema.h" % (name, spelled)
