"""Hypothesis strategies that break a valid JSON document the ways real files break.

`broken_json(doc)` draws the text of `doc` after 1-3 mutations: a value anywhere replaced by another
type (null, bool, huge or negative numbers, NaN/Infinity, strings, nested lists/objects), a key
deleted, a list emptied or duplicated, and sometimes the text truncated or not UTF-8 at all.
"""

from __future__ import annotations

import copy
import json

from hypothesis import strategies as st

LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 1, 2**31, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6), st.sampled_from(["", "0", "a.png", "../x"]),
)
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                          max_size=3), max_leaves=6)


def _paths(node, prefix=()):
    """Every location in a JSON tree, as a tuple of keys/indices ("()" is the root)."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _get(node, path):
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated_doc(draw, doc):
    """A deep copy of `doc` with 1-3 structural mutations (the root may be replaced too)."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "empty", "duplicate"]))
        if not path:
            if op == "replace":
                doc = draw(VALUES)
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = draw(VALUES)
        elif op == "delete":
            del parent[key]
        elif op == "empty" and isinstance(parent[key], (list, dict)):
            parent[key] = type(parent[key])()
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return doc


@st.composite
def broken_json(draw, doc) -> bytes:
    """The bytes of a mutated `doc`: valid JSON mostly, sometimes truncated or not text at all."""
    text = json.dumps(draw(mutated_doc(doc)), allow_nan=True).encode()
    damage = draw(st.sampled_from(["none"] * 8 + ["truncate", "garbage"]))
    if damage == "truncate":
        text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
    elif damage == "garbage":
        text = draw(st.binary(max_size=40)) + text[draw(st.integers(0, len(text))):]
    return text
