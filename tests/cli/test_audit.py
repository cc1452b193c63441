"""`stoneage audit list`: filters, and `--follow` printing new events once each as they come."""

import json
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_audit_filters(stoneage):
    stoneage.ok("thing-types", "create", "--set", "code=t1", "--set", "name=T1")
    events = stoneage.ok("audit", "list", "--action", "create", "--object-type", "inventory.thingtype")
    assert [(e["action"], e["object_type"], e["after"]["code"]) for e in events] == [
        ("create", "inventory.thingtype", "t1")
    ]
    assert stoneage.ok("audit", "list", "--actor", "nobody") == []
    assert "400" in stoneage.refused("audit", "list", "--since", "yesterday").err
    table = stoneage("audit", "list", "--limit", "1", "-o", "table").out.splitlines()
    assert table[0].split()[:2] == ["timestamp", "action"] and len(table) == 3
    theirs = stoneage.ok("--context", "globex", "audit", "list", "--limit", "1")[0]
    assert "404" in stoneage.refused("audit", "get", str(theirs["id"])).err


def test_follow_prints_new_events_once(stoneage):
    stoneage.ok("thing-types", "create", "--set", "code=before", "--set", "name=Before")
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stoneage.cli",
            "audit",
            "list",
            "--follow",
            "--action",
            "create",
            "--interval",
            "0.3",
            "--max-polls",
            "12",
            "--limit",
            "5",
            "-o",
            "json",
        ],
        env=stoneage.env,
        cwd=stoneage.cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)
    for code in ("during-1", "during-2"):
        stoneage.ok("thing-types", "create", "--set", f"code={code}", "--set", "name=During")
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    created = [e["after"]["code"] for e in events if e["object_type"] == "inventory.thingtype"]
    assert created == ["before", "during-1", "during-2"]
