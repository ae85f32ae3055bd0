"""supabase-js (node) against the PostgREST contract: each builder method sends PostgREST's documented grammar
(docs.postgrest.org references/api: tables_views Operators and Operator Modifiers, resource_representation,
pagination_count, Upsert and Bulk Insert with Default Values) and gets PostgREST's answer back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from salesflow.settings import PROJECT_ROOT
from tests.devstack.conftest import RunningStack
from tests.devstack.postgrest_tables import create_tables

SCRIPT = Path(__file__).with_name("js") / "postgrest_contract.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (PROJECT_ROOT / "node_modules" / "@supabase" / "supabase-js").is_dir(),
    reason="node and `npm ci` (./scripts/setup) are needed for the supabase-js tests")


@pytest.fixture(scope="module")
def seen(running_stack: RunningStack) -> Iterator[dict[str, Any]]:
    """Run the script once; every test reads its part of the answers."""
    create_tables(running_stack)
    env = {**os.environ, "SUPABASE_URL": running_stack.url, "SUPABASE_ANON_KEY": running_stack.stack.anon_key}
    # Node 20 ships WebSocket behind a flag (on by default from Node 22); createClient needs it.
    flags = ["--experimental-websocket"] if subprocess.run(
        [str(NODE), "-e", "process.exit(typeof WebSocket === 'undefined' ? 1 : 0)"], check=False).returncode else []
    done = subprocess.run([str(NODE), *flags, str(SCRIPT)], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    yield json.loads(done.stdout.strip().splitlines()[-1])


def test_operators_and_modifiers(seen: dict[str, Any]) -> None:
    assert seen["likeAllOf"] == [2]  # `like(all).{A*,*n}`: answered [] before
    assert seen["likeAnyOf"] == [3, 4, 5]
    assert seen["ilikeAllOf"] == [3, 4]
    assert seen["ilikeAnyOf"] == [1, 3]
    assert seen["anyEq"] == [1, 4]
    assert (seen["regexMatch"], seen["regexIMatch"], seen["isDistinct"]) == ([3, 4], [4], [2, 3, 4, 5])
    assert (seen["contains"], seen["containedBy"], seen["overlaps"]) == ([2], [1, 2, 4, 5], [1, 3, 5])


def test_range_operators(seen: dict[str, Any]) -> None:
    assert seen["rangeLt"] == [1, 2]  # sl
    assert seen["rangeGt"] == [4]  # sr
    assert seen["rangeLte"] == [1, 2]  # nxr
    assert seen["rangeGte"] == [3, 4]  # nxl
    assert seen["rangeAdjacent"] == [1, 3]  # adj


def test_full_text_search_with_a_configuration(seen: dict[str, Any]) -> None:
    assert (seen["ftsGerman"], seen["ftsPhrase"], seen["ftsWebsearch"]) == ([1, 3], [1], [5])


def test_negation_logic_trees_and_quoted_lists(seen: dict[str, Any]) -> None:
    assert seen["notLike"] == [1, 2, 5]
    assert seen["orQuoted"] == [3, 5]
    assert seen["orNested"] == [1, 4, 5]
    assert seen["inList"] == [1, 4]
    assert seen["inQuotedInOr"] == [1, 3, 5]


def test_csv_stripped_nulls_and_the_refused_plan(seen: dict[str, Any]) -> None:
    assert seen["csv"] == "id,nick\n1,anna\n2,arne"
    assert seen["stripNulls"] == [{"id": 3, "score": 30}, {"id": 4, "meta": {"a": 3}}]
    assert seen["explain"]["error"] == "PGRST107" and seen["explain"]["status"] == 406


def test_counts_on_tables_and_functions(seen: dict[str, Any]) -> None:
    for name in ("countExact", "countPlanned"):
        assert (seen[name]["count"], seen[name]["status"], seen[name]["data"]) == (5, 206, [{"id": 1}, {"id": 2}])
    assert (seen["countEstimated"]["count"], seen["countEstimated"]["data"]) == (5, None)
    assert seen["rpcCount"]["count"] == 5 and seen["rpcCount"]["data"] == [{"id": 1}, {"id": 2}]
    assert seen["rpcHead"]["count"] == 5 and seen["rpcHead"]["data"] is None
    assert seen["rpcGet"]["data"] == 5


def test_upserts_and_defaults(seen: dict[str, Any]) -> None:
    assert seen["upsertMerge"]["data"] == [{"email": "a@example.de", "name": "Alma Neu", "visits": 3},
                                           {"email": "js@example.de", "name": "Jo", "visits": 1}]
    assert seen["upsertIgnore"]["data"] == []
    assert seen["insertDefaults"]["data"] == [{"email": "k@example.de", "visits": 7},
                                              {"email": "l@example.de", "visits": 1}]
    assert seen["insertNulls"]["error"] == "23502"  # without missing=default a missing column is null


def test_max_affected_refuses_a_wider_update(seen: dict[str, Any]) -> None:
    assert seen["maxAffected"]["error"] == "PGRST124" and seen["maxAffected"]["status"] == 400
    assert seen["visitsAfterMaxAffected"] == [{"visits": 3}, {"visits": 4}]


def test_null_filters_on_embedded_resources(seen: dict[str, Any]) -> None:
    assert seen["embedNotNull"] == [{"name": "Acme Sales", "leads": [{"name": "Sophie Keller"}]}]
    assert seen["embedNull"] == [{"name": "Acme Sales", "leads": []}]
    assert seen["embedCount"] == [{"name": "Acme Sales", "leads": [{"count": 7}]}]
    assert seen["spread"] == [{"name": "Julia Becker", "tenant_name": "Acme Sales"}]
