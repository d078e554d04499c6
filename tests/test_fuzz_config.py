"""Property-based fuzzing of the config loader and of ``--set``: whatever the YAML or the override,
loading gives settings (which events.jsonl records as strict JSON) or a one-line ConfigError."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from kernel.errors import ConfigError
from omnilive.settings import Settings, load_settings, parse_override

FUZZ = settings(max_examples=200, deadline=None, derandomize=True)


# The member a field of a discriminated union lives in (describer.repo: describer.backend=omnilmm).
CHOOSE: dict[str, tuple[str, str]] = {}


def _leaves(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, annotation) of every setting that is not a section; a discriminated union's
    section has every member's fields, and :data:`CHOOSE` says which member each is in."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _leaves(annotation, f"{prefix}{name}.")
        elif isinstance(info.discriminator, str):
            for member in typing.get_args(annotation):
                tag = member.model_fields[info.discriminator].default
                for path, leaf in _leaves(member, f"{prefix}{name}."):
                    CHOOSE.setdefault(path, (f"{prefix}{name}.{info.discriminator}", tag))
                    yield path, leaf
        else:
            yield f"{prefix}{name}", annotation


LEAVES = dict(_leaves(Settings))
FLOAT_FIELDS = [path for path, a in LEAVES.items() if a is float or float in typing.get_args(a)]
# Every prefix of a real path, so that overrides also name sections and fields of the wrong kind.
PATHS = sorted({".".join(p.split(".")[:i]) for p in LEAVES for i in range(1, p.count(".") + 2)})

# Scalars as YAML text: the awkward ones PyYAML and the validators meet.
TRICKY = [
    "inf", ".inf", "-.inf", ".nan", "nan", "1e400", "1.0e400", "-0", "0x1F", "0o17", "1_000", "2001-02-30",
    "2001-13-01 10:00:00", "!!int 0x", "!!float abc", "!!timestamp 1", "!!binary x", "!!set {a, b}", "&a [*a]",
    "[" * 300, "(unclosed", "a{4294967296}", "[z-a]", "~", "null", "yes", "no", "on", "off", "TRUE", "''", "'",
    '"\\x"', "{a: 1}", "[1, 2]", "- a", "? [1]\n: 2", "|\n  x", "%YAML 1.1\n---\nx", "---\n---", "\t", "é", "\x00",
]
scalar_text = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=20),
    st.integers().map(str),
    st.floats().map(repr),
)
values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
# Token soup: text that is nearly YAML, to reach the parser's and the constructors' odd corners.
tokens = st.lists(
    st.sampled_from(["\n", " ", "  ", ": ", "- ", "[", "]", "{", "}", ",", "#", "&a ", "*a", "? ", "!!int ",
                     "!!float ", "!!timestamp ", "!!str ", "replay", "speed", "describer", "look_pattern",
                     "video", "sample_interval_s", *TRICKY]),
    max_size=30,
).map("".join)


def _nested(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for dotted, value in pairs:
        *sections, key = dotted.split(".")
        node = doc
        for section in sections:
            child = node.setdefault(section, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[key] = value
    return doc


settings_like = st.lists(st.tuples(st.sampled_from(PATHS), values), max_size=6).map(_nested)
documents = st.one_of(
    st.text(max_size=200),
    tokens,
    st.dictionaries(st.text(max_size=8), values, max_size=4).map(yaml.safe_dump),
    settings_like.map(yaml.safe_dump),
    st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(TRICKY)), min_size=1, max_size=6).map(
        lambda pairs: "".join(f"{p.split('.')[0]}:\n  {p.split('.')[-1]}: {v}\n" for p, v in pairs)
    ),
)
overrides = st.one_of(
    st.text(max_size=40),
    st.tuples(st.sampled_from(PATHS), scalar_text).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.tuples(st.sampled_from(FLOAT_FIELDS), st.sampled_from(TRICKY)).map(lambda kv: f"{kv[0]}={kv[1]}"),
    st.tuples(st.sampled_from(PATHS), values).map(lambda kv: f"{kv[0]}={yaml.safe_dump(kv[1])}"),
)


def _check(load: typing.Callable[[], Settings], *names: str) -> None:
    try:
        loaded = load()
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        for name in names:
            assert name in message, message
        return
    json.dumps(loaded.model_dump(mode="json"), allow_nan=False)  # as session_start records it: strict JSON


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzz.yaml"


@FUZZ
@given(document=documents)
def test_any_yaml_document_loads_or_is_a_config_error(config_path: Path, document: str) -> None:
    config_path.write_text(document, encoding="utf-8")
    _check(lambda: load_settings(config_path), str(config_path))


@FUZZ
@given(texts=st.lists(overrides, min_size=1, max_size=4))
def test_any_set_override_loads_or_is_a_config_error(texts: list[str]) -> None:
    _check(lambda: load_settings(None, [parse_override(t) for t in texts]))


@pytest.mark.parametrize("value", ["inf", ".inf", "-.inf", ".nan", "1e400"])
def test_no_float_setting_accepts_a_number_that_is_not_finite(value: str) -> None:
    assert len(FLOAT_FIELDS) > 30  # the walk found the settings
    accepted = []
    for field in FLOAT_FIELDS:
        try:
            chosen = [CHOOSE[field]] if field in CHOOSE else []  # describer.timeout_s: describer.backend=openai
            loaded = load_settings(None, [*chosen, parse_override(f"{field}={value}")])
        except ConfigError as exc:
            assert field in str(exc)
            continue
        node: Any = loaded
        for key in field.split("."):
            node = getattr(node, key)
        accepted.append((field, node))
    assert not accepted
