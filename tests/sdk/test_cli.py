"""The `forebear` command as people and scripts use it, a connection that keeps dropping, and
the SDK on the oldest and newest Python a training environment may have."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import forebear
import pytest

from tests.proxy import TcpProxy
from tests.sdk.conftest import Sdk

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_logs_links_moves_and_traces(sdk: Sdk) -> None:
    data = sdk.home / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    (data / "b.txt").write_text("b")
    put = json.loads(
        sdk.cli(
            "artifact", "put", "data", "-n", "proj/ds", "-t", "dataset", "-a", "gold", "--json"
        ).stdout
    )
    assert put["name"] == "proj/ds:v0"
    assert sorted(put["aliases"]) == ["gold", "latest"]
    (sdk.home / "out").mkdir()
    (sdk.home / "out" / "notes.md").write_text("mine")  # left alone by get, named by verify
    got = json.loads(sdk.cli("artifact", "get", "proj/ds:gold", "--root", "out", "--json").stdout)
    assert got == {"name": "proj/ds:v0", "root": "out", "files": 2}
    assert (sdk.home / "out" / "b.txt").read_text() == "b"
    assert (sdk.home / "out" / "notes.md").read_text() == "mine"
    extra = sdk.cli("artifact", "verify", "proj/ds:gold", "--root", "out", check=False)
    assert extra.returncode == 1
    assert "out does not match proj/ds:v0: extra: notes.md" in extra.stderr
    (sdk.home / "out" / "notes.md").unlink()
    sdk.cli("artifact", "verify", "proj/ds:gold", "--root", "out")
    linked = json.loads(
        sdk.cli("link", "proj/ds:gold", "dataset/train", "-a", "prod", "--json").stdout
    )
    assert linked["name"] == "dataset/train:v0"
    staged = json.loads(
        sdk.cli("stage", "assign", "dataset/train:prod", "staging", "--json").stdout
    )
    assert staged["stages"] == ["staging"]
    labelled = json.loads(sdk.cli("semver", "set", "dataset/train:v0", "1.0.0", "--json").stdout)
    assert labelled["semver"] == "1.0.0"
    moved = json.loads(sdk.cli("alias", "set", "dataset/train:1.0.0", "best", "--json").stdout)
    assert sorted(moved["aliases"]) == ["best", "latest", "prod"]
    sdk.cli("alias", "rm", "dataset/train", "best")
    sdk.cli("alias", "set", "dataset/train:v0", "spare")
    # `registry/collection:alias` names the alias too; a linked version is not a collection
    a_link = sdk.cli("alias", "rm", "dataset/train:v0", "spare", check=False)
    assert a_link.returncode == 2
    assert "forebear alias rm dataset/train spare" in a_link.stderr
    removed = json.loads(sdk.cli("alias", "rm", "dataset/train:spare", "--json").stdout)
    assert removed == {"collection": "dataset/train", "removed": "spare"}
    history = json.loads(sdk.cli("history", "dataset/train:prod", "--json").stdout)
    assert [h["type"] for h in history] == [
        "alias.removed",
        "alias.set",
        "alias.removed",
        "alias.set",
        "link.semver_set",
        "stage.assigned",
        "link.created",
    ]
    assert history[-1]["after"]["version"] == put["id"]  # objects for scripts, not JSON text
    assert history[0]["before"]["link"] == linked["id"]  # where the alias was
    # For people: what changed, to the second, with names where the events hold ids.
    table = sdk.cli("history", "dataset/train:prod", COLUMNS="200").stdout
    moved_line = next(line for line in table.splitlines() if "alias.set" in line)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d .* alias\.set", moved_line)
    assert "link: - -> dataset/train:v0" in moved_line
    created_line = next(line for line in table.splitlines() if "link.created" in line)
    assert "aliases: - -> prod;" in created_line  # prod was on no link before
    assert "version: proj/ds:v0" in table
    sdk.cli("link", "proj/ds:gold", "dataset/plain")  # no alias before, none after: not said
    plain = sdk.cli("history", "dataset/plain", COLUMNS="200").stdout
    assert ("link.created" in plain, "aliases" in plain) == (True, False), plain
    assert re.search(r"(lnk|ver)_[0-9a-f]{24}", table) is None
    # A new link taking an alias says which link it took it from.
    (sdk.home / "next.txt").write_text("next")
    sdk.cli("artifact", "put", "next.txt", "-n", "elsewhere/next", "-t", "dataset")
    sdk.cli("link", "proj/ds:gold", "dataset/moves", "-a", "champ")
    sdk.cli("link", "elsewhere/next:v0", "dataset/moves", "-a", "champ")
    took = sdk.cli("history", "dataset/moves:v1", COLUMNS="200").stdout
    assert "aliases: - -> champ (from dataset/moves:v0);" in took, took
    # A whole collection, an artifact's every version and a registry, each by its name.
    whole = [h["type"] for h in json.loads(sdk.cli("history", "dataset/train", "--json").stdout)]
    assert {"alias.removed", "link.created"} <= set(whole)
    versions = json.loads(sdk.cli("history", "proj/ds", "--json").stdout)
    assert [h["type"] for h in versions][-2:] == [
        "artifact_version.committed",
        "artifact_version.created",
    ]
    registry = json.loads(sdk.cli("history", "dataset", "--json").stdout)
    assert registry[-1]["type"] == "registry.created"
    for wrong, says in (
        ("dataset/trian", "registry 'dataset' has no collection 'trian'"),
        ("proj/sd", "project 'proj' has no artifact 'sd'"),
        ("run_misspelt", "no events about 'run_misspelt'"),
    ):
        refused = sdk.cli("history", wrong, check=False)
        assert (refused.returncode, says in refused.stderr) == (1, True), refused.stderr
    dot = sdk.cli("lineage", "proj/ds:gold", "--down", "--format", "dot").stdout
    assert dot.startswith("digraph lineage {")
    tree = sdk.cli("lineage", "proj/ds:gold").stdout
    assert "proj/ds:v0" in tree
    assert sdk.cli("lineage", "proj/ds").stdout == tree  # no version named: the latest
    as_json = json.loads(sdk.cli("lineage", "proj/ds:gold", "--json").stdout)  # as every command
    assert as_json == json.loads(sdk.cli("lineage", "proj/ds:gold", "--format", "json").stdout)
    assert [n["name"] for n in as_json["nodes"]] == ["proj/ds:v0"]
    listed = json.loads(sdk.cli("artifact", "ls", "proj", "--json").stdout)
    assert [(a["name"], a["type"], a["latest"]) for a in listed] == [("ds", "dataset", "v0")]
    (data / "c.txt").write_text("c")
    sdk.cli("artifact", "put", "data", "-n", "proj/ds", "-t", "dataset")
    versions = json.loads(sdk.cli("artifact", "ls", "proj/ds", "--json").stdout)
    assert [(v["version"], v["files"], sorted(v["aliases"])) for v in versions] == [
        ("v1", 3, ["latest"]),
        ("v0", 2, ["gold"]),
    ]
    assert (versions[1]["id"], versions[0]["size"]) == (put["id"], 3)  # a, b, c: a byte each
    # A project's artifact has aliases too: `alias` moves them when no registry is named so.
    moved = json.loads(sdk.cli("alias", "set", "proj/ds:v1", "gold", "--json").stdout)
    assert (moved["name"], sorted(moved["aliases"])) == ("proj/ds:v1", ["gold", "latest"])
    gone = json.loads(sdk.cli("alias", "rm", "proj/ds:gold", "--json").stdout)
    assert gone == {"artifact": "proj/ds", "removed": "gold", "from": moved["id"]}
    for args in (("set", "proj/ds:v7", "gold"), ("rm", "proj/ds", "gold")):
        refused = sdk.cli("alias", *args, check=False)
        assert refused.returncode == 1
        assert "nor is 'proj/ds:" in refused.stderr, refused.stderr
        assert "project/artifact:vN" in refused.stderr
    sdk.cli("alias", "set", "proj/ds:v0", "gold")  # where it was, for what follows
    assert "v1" in sdk.cli("artifact", "ls", "proj/ds").stdout  # a table for people
    # Deleting a version, and bringing it back.
    assert sdk.cli("artifact", "rm", "proj/ds", check=False).returncode == 2  # which version?
    held = sdk.cli("artifact", "rm", "proj/ds:gold", check=False)
    assert (held.returncode, "--delete-aliases" in held.stderr) == (1, True), held.stderr
    linked_v0 = sdk.cli("artifact", "rm", "proj/ds:gold", "--delete-aliases", check=False)
    assert "has dependents (linked as dataset/" in linked_v0.stderr, linked_v0.stderr
    assert {"dataset/train:v0", "dataset/plain:v0"} <= set(
        re.findall(r"dataset/\w+:v0", linked_v0.stderr)
    )
    assert "--confirm" in linked_v0.stderr
    deleted = json.loads(sdk.cli("artifact", "rm", "proj/ds:v1", "--json").stdout)
    assert deleted == {"deleted": "proj/ds:v1", "id": versions[0]["id"]}
    left = json.loads(sdk.cli("artifact", "ls", "proj/ds", "--json").stdout)
    assert [(v["version"], sorted(v["aliases"])) for v in left] == [("v0", ["gold", "latest"])]
    [ds] = json.loads(sdk.cli("artifact", "ls", "proj", "--json").stdout)
    assert ds["latest"] == "v0"  # a deleted version is no one's latest
    back = json.loads(sdk.cli("artifact", "restore", "proj/ds:v1", "--json").stdout)
    assert (back["restored"], back["aliases"]) == ("proj/ds:v1", ["latest"])
    assert re.search(r"ds\s+│\s+dataset\s+│\s+v1\s", sdk.cli("artifact", "ls", "proj").stdout)
    made = datetime.fromisoformat(listed[0]["createdAt"]).astimezone(UTC)
    assert made.strftime("%Y-%m-%d %H:%M:%S") in sdk.cli("artifact", "ls", "proj").stdout
    unknown = sdk.cli("artifact", "ls", "proj/sd", check=False)
    assert (unknown.returncode, "forebear artifact ls proj lists them" in unknown.stderr) == (
        1,
        True,
    )
    misspelt = sdk.cli("artifact", "ls", "porj", check=False)
    assert misspelt.returncode == 1
    assert "no project 'porj'" in misspelt.stderr
    assert json.loads(sdk.cli("audit", "verify", "--json").stdout)["intact"] is True
    # For people, one record is a field a line, lists joined, nothing Python-shaped.
    shown = sdk.cli("artifact", "get", "proj/ds:gold", "--root", "again").stdout.splitlines()
    assert [line.split() for line in shown] == [
        ["name", "proj/ds:v0"],
        ["root", "again"],
        ["files", "2"],
    ]
    (sdk.home / "taken").write_text("a file, where the root would go")
    for root, said in (("taken", "File exists: taken"), ("/proc/x", "No such file or directory")):
        refused = sdk.cli("artifact", "get", "proj/ds:gold", "--root", root, check=False)
        assert (refused.returncode, said in refused.stderr) == (1, True), refused.stderr
        assert "Traceback" not in refused.stderr
    checked = sdk.cli("audit", "verify").stdout
    assert checked.split()[:2] == ["intact", "True"]
    assert "{" not in checked
    assert "'" not in checked
    # It holds an alias and a stage: the server asks for a confirmation, naming them.
    held = sdk.cli("deregister", "dataset/train:v0", check=False)
    assert held.returncode == 1
    assert "has dependents" in held.stderr + held.stdout
    kept = sdk.cli("deprecate", "dataset/train", "--yes", check=False)
    assert kept.returncode == 1
    assert "stage" in kept.stderr
    assert "add --confirm" in kept.stderr
    deregistered = json.loads(
        sdk.cli("deregister", "dataset/train:v0", "--confirm", "--json").stdout
    )
    assert deregistered["deregistered"] is True
    # It asks first: a script that cannot answer is told to add --yes; "n" changes nothing.
    unasked = sdk.cli("deprecate", "dataset/train", check=False)
    assert (unasked.returncode, "add --yes" in unasked.stderr) == (2, True), unasked.stderr
    declined = sdk.cli("deprecate", "dataset/train", check=False, typed="n\n")
    assert declined.returncode == 1
    sdk.cli("deprecate", "dataset/train", typed="y\n")
    state = '{ collection(registry: "dataset", name: "train") { deprecated } }'
    assert sdk.gql(state)["collection"]["deprecated"] is True
    back = json.loads(sdk.cli("restore", "dataset/train", "--json").stdout)
    assert back == {"restored": "dataset/train"}
    assert sdk.gql(state)["collection"]["deprecated"] is False
    linked_back = json.loads(sdk.cli("restore", "dataset/train:v0", "--json").stdout)
    assert linked_back["deregistered"] is False
    # refusals end with 1 and say why; a wrong command line with 2
    missing = sdk.cli("link", "proj/nothing:v0", "dataset/train", check=False)
    assert missing.returncode == 1
    assert "forebear:" in missing.stderr
    assert sdk.cli("artifact", "put", "data", check=False).returncode == 2
    assert sdk.cli("no-such-command", check=False).returncode == 2


def test_impact_lineage_drawings_and_stages_of_a_model_made_from_a_dataset(sdk: Sdk) -> None:
    """`forebear impact` of a dataset lists the registered models made from it, by collection
    with their aliases; of a model registered itself, nothing descends, and it says where the
    model is registered instead of a bare "(none)". Its lineage draws along the data; a stage
    is assigned and taken back."""
    (sdk.home / "d.csv").write_text("x,y")
    (sdk.home / "m.bin").write_text("weights")
    sdk.python(
        "import forebear\n"
        "with forebear.init(project='proj') as run:\n"
        "    run.log_artifact('d.csv', name='ds', type='dataset')\n"
        "with forebear.init(project='proj') as run:\n"
        "    run.use_artifact('proj/ds:latest')\n"
        "    model = run.log_artifact('m.bin', name='clf', type='model')\n"
        "    run.link_artifact(model, 'model/fraud', aliases=['production'])\n"
    )
    found = json.loads(sdk.cli("impact", "proj/ds:v0", "--json").stdout)
    assert found == [{"collection": "model/fraud", "linked": "v0 (latest, production)"}]
    table = sdk.cli("impact", "proj/ds", COLUMNS="200").stdout  # the latest version
    assert "model/fraud" in table
    assert "v0 (latest, production)" in table
    own = sdk.cli("impact", "proj/clf:v0")
    assert own.stdout.strip() == "(none)"
    assert own.stderr.strip() == (
        "forebear: no registered version descends from proj/clf:v0 "
        "(it is registered itself as model/fraud:v0)"
    )
    assert json.loads(sdk.cli("impact", "proj/clf:v0", "--json").stdout) == []
    missing = sdk.cli("impact", "proj/nope:v0", check=False)
    assert missing.returncode == 1
    assert "proj/nope:v0" in missing.stderr
    # where it came from, drawn for a README or a notebook, along the data: the dataset into
    # the run that used it, the run into the model
    graph = json.loads(sdk.cli("lineage", "model/fraud:production", "--up", "--json").stdout)
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    ds, clf = ids["proj/ds:v0"], ids["proj/clf:v0"]
    [trainer] = [e["source"] for e in graph["edges"] if e["target"] == clf]
    mermaid = sdk.cli("lineage", "model/fraud:production", "--up", "--format", "mermaid").stdout
    assert mermaid.startswith("flowchart LR\n")
    assert f"  {ds} -->|CONSUMED| {trainer}\n" in mermaid
    assert f"  {trainer} -->|PRODUCED| {clf}\n" in mermaid
    dot = sdk.cli("lineage", "model/fraud:production", "--up", "--format", "dot").stdout
    assert f'  "{ds}" -> "{trainer}" [label="CONSUMED"];' in dot
    # and the stage it was given, taken back
    staged = json.loads(sdk.cli("stage", "assign", "model/fraud:v0", "staging", "--json").stdout)
    assert staged["stages"] == ["staging"]
    unstaged = sdk.cli("stage", "unassign", "model/fraud:staging", "staging", "--json").stdout
    assert json.loads(unstaged)["stages"] == []
    assert json.loads(sdk.cli("impact", "proj/ds", "--json").stdout) == found


def test_artifact_diff_names_what_a_version_changes(sdk: Sdk) -> None:
    data = sdk.home / "data"
    data.mkdir()
    for name, text in (("a.txt", "a"), ("b.txt", "b")):
        (data / name).write_text(text)
    sdk.cli("artifact", "put", "data", "-n", "proj/ds", "-t", "dataset")
    (data / "b.txt").write_text("b2")
    (data / "c.txt").write_text("c")
    (data / "a.txt").unlink()
    sdk.cli("artifact", "put", "data", "-n", "proj/ds", "-t", "dataset")
    changes = json.loads(sdk.cli("artifact", "diff", "proj/ds:v0", "proj/ds:v1", "--json").stdout)
    assert changes == [
        {"change": "removed", "path": "a.txt", "before": 1, "after": None},
        {"change": "changed", "path": "b.txt", "before": 1, "after": 2},
        {"change": "added", "path": "c.txt", "before": None, "after": 1},
    ]
    same = sdk.cli("artifact", "diff", "proj/ds:v1", "proj/ds:latest", "--json").stdout
    assert json.loads(same) == []
    assert "(none)" in sdk.cli("artifact", "diff", "proj/ds:v1", "proj/ds").stdout
    missing = sdk.cli("artifact", "diff", "proj/ds:v0", "proj/ds:v7", check=False)
    assert (missing.returncode, "proj/ds:v7" in missing.stderr) == (1, True)


def test_describe_shows_and_changes_a_models_description_tags_and_name(sdk: Sdk) -> None:
    (sdk.home / "clf.pkl").write_text("weights")
    sdk.cli("artifact", "put", "clf.pkl", "-n", "fraud/clf", "-t", "model")
    sdk.cli("link", "fraud/clf:v0", "model/fraud-clf")
    shown = json.loads(sdk.cli("describe", "model/fraud-clf", "--json").stdout)
    assert shown == {
        "collection": "model/fraud-clf",
        "description": "",
        "tags": [],
        "types": [],
        "latest": "model/fraud-clf:v0",
        "deprecated": False,
    }
    changed = sdk.cli(
        "describe", "model/fraud-clf", "-d", "Card fraud.", "-t", "fraud", "-t", "nightly"
    ).stdout
    assert re.search(r"description\s+Card fraud\.", changed)
    assert re.search(r"tags\s+fraud, nightly", changed)
    # what is not given stays; the tags given replace them; --no-tags removes them all
    renamed = json.loads(
        sdk.cli("describe", "model/fraud-clf", "--rename", "fraud", "--no-tags", "--json").stdout
    )
    assert (renamed["collection"], renamed["description"], renamed["tags"]) == (
        "model/fraud",
        "Card fraud.",
        [],
    )
    assert sdk.gql('{ linkedVersion(ref: "model/fraud:v0") { name } }')["linkedVersion"]
    history = json.loads(sdk.cli("history", "model/fraud", "--json").stdout)
    assert [h["type"] for h in history][:2] == ["collection.renamed", "collection.updated"]
    both = sdk.cli("describe", "model/fraud", "-t", "x", "--no-tags", check=False)
    assert (both.returncode, "not both" in both.stderr) == (2, True)
    missing = sdk.cli("describe", "model/nothing", check=False)
    assert (missing.returncode, "no collection 'model/nothing'" in missing.stderr) == (1, True)


def test_show_and_runs_list_what_registries_and_projects_hold(sdk: Sdk) -> None:
    """`forebear show` walks registries, collections and linked versions (as `gto show`);
    `forebear runs` lists a project's runs."""
    sdk.python(
        "import forebear, pathlib\n"
        "for epoch in range(2):\n"
        "    pathlib.Path('clf.pkl').write_text(f'weights {epoch}')\n"
        "    with forebear.init(project='fraud', job_type='train', tags=['cnn']) as run:\n"
        "        run.log({'auc': 0.8 + epoch / 10})\n"
        "        run.link_model('clf.pkl', 'fraud-clf', name='clf')\n"
        "with forebear.init(project='fraud', job_type='eval') as run:\n"
        "    pass\n"
    )
    sdk.cli("alias", "set", "model/fraud-clf:v0", "prod")
    sdk.cli("stage", "assign", "model/fraud-clf:v1", "staging")
    labelled = sdk.cli("semver", "set", "model/fraud-clf:v1", "1.1.0", COLUMNS="60").stdout
    # one line a version, even narrower than itself: a script greps it
    assert labelled == "model/fraud-clf:v1  aliases: latest  stages: staging  semver: 1.1.0\n"
    registries = json.loads(sdk.cli("show", "--json").stdout)
    assert {"registry": "model"}.items() <= next(
        r for r in registries if r["registry"] == "model"
    ).items()
    [row] = json.loads(sdk.cli("show", "model", "--json").stdout)
    assert row == {
        "collection": "fraud-clf",
        "latest": "v1 (1.1.0)",
        "aliases": ["prod: v0"],
        "stages": ["staging: v1"],
        "tags": [],
    }
    versions = json.loads(sdk.cli("show", "model/fraud-clf", "--json").stdout)
    assert [(v["version"], v["aliases"], v["stages"], v["source"]) for v in versions] == [
        ("v1 (1.1.0)", ["latest"], ["staging"], "fraud/clf:v1"),
        ("v0", ["prod"], [], "fraud/clf:v0"),
    ]
    named = sdk.python(
        "import forebear\n"
        "[c] = forebear.Api().collections('model')\n"
        "print([(v.index, v.aliases, v.stages) for v in c.named])\n"
    )
    assert named.stdout.strip() == "[(1, ['latest'], ['staging']), (0, ['prod'], [])]"
    table = sdk.cli("show", "model", COLUMNS="200").stdout
    assert "fraud-clf" in table
    assert "prod: v0" in table
    for args, said in (
        (("show", "model/nope"), "no collection 'model/nope'"),
        (("show", "nope"), "no registry 'nope'"),
    ):
        refused = sdk.cli(*args, check=False)
        assert refused.returncode == 1
        assert said in refused.stderr
    runs = json.loads(sdk.cli("runs", "fraud", "--json").stdout)
    assert [(r["jobType"], r["status"]) for r in runs] == [
        ("eval", "FINISHED"),
        ("train", "FINISHED"),
        ("train", "FINISHED"),
    ]
    assert runs[1]["summary"] == {"auc": 0.9}
    # on an 80-column terminal a long value folds onto more lines; an id is never cut off
    narrow = sdk.cli("runs", "fraud", COLUMNS="80").stdout
    assert "…" not in narrow
    first_column = "".join(
        line.split("│")[1].strip() for line in narrow.splitlines() if line.startswith("│")
    )
    assert [r["id"] for r in runs] == re.findall(r"run_[0-9a-f]+?(?=run_|$)", first_column)
    tagged = json.loads(sdk.cli("runs", "fraud", "--tag", "cnn", "--json").stdout)
    assert len(tagged) == 2
    missing = sdk.cli("runs", "nowhere", check=False)
    assert missing.returncode == 1
    assert "nowhere" in missing.stderr
    sdk.python("import forebear\nforebear.init(project='churn').finish()\n")
    [churn, fraud] = json.loads(sdk.cli("projects", "--json").stdout)
    assert (churn["project"], fraud["project"]) == ("churn", "fraud")
    assert fraud["url"] == f"{sdk.base}/projects/fraud"
    printed = sdk.python(
        "import forebear\n"
        "api = forebear.Api()\n"
        "print([p.name for p in api.projects(per_page=1)], api.project('fraud').url)\n"
        "try:\n"
        "    api.project('nowhere')\n"
        "except forebear.NotFound as e:\n"
        "    print(e)\n"
    ).stdout.splitlines()
    assert printed == [
        f"['churn', 'fraud'] {sdk.base}/projects/fraud",
        "no project 'nowhere': forebear.init(project='nowhere') makes it",
    ]


def test_history_names_only_what_the_caller_may_read(sdk: Sdk) -> None:
    (sdk.home / "w.bin").write_bytes(b"w")
    sdk.cli("artifact", "put", "w.bin", "-n", "secret/w", "-t", "model")
    run = sdk.python(
        "import forebear\n"
        "with forebear.init(project='open') as run:\n"
        "    run.use_artifact('secret/w:v0')\n"
        "print(run.id)"
    ).stdout.strip()
    key = sdk.gql('mutation { createUser(input: {name: "vic"}) { key } }')["createUser"]["key"]
    sdk.gql(
        'mutation { setProjectMember(input: {project: "open", principal: "vic"}) { __typename } }'
    )
    admin = sdk.cli("history", run, COLUMNS="200").stdout
    assert "secret/w:v0" in admin
    # vic may read the run, not the other project's version it used: the server leaves out
    # what the event says about it, as lineage leaves it unnamed.
    member = sdk.cli("history", run, COLUMNS="200", FOREBEAR_API_KEY=key).stdout
    used = next(line for line in member.splitlines() if "run.used_version" in line)
    assert "you may not read" in used
    assert "secret/w" not in member
    events = json.loads(sdk.cli("history", run, "--json", FOREBEAR_API_KEY=key).stdout)
    assert [(e["type"], e["withheld"], e["after"]) for e in events][1] == (
        "run.used_version",
        True,
        {},
    )
    assert events[0]["after"] == {"status": "FINISHED"}  # the run's own events in full


def test_history_reads_past_the_servers_page_of_100(sdk: Sdk) -> None:
    """`-n 150` gives 150 events when there are that many (the server pages 100 at a time);
    by default the newest 50."""
    for content in (b"a", b"b"):
        (sdk.home / "m.bin").write_bytes(content)
        sdk.cli("artifact", "put", "m.bin", "-n", "p/m", "-t", "model")
    sdk.cli("link", "p/m:v0", "model/busy")
    sdk.cli("link", "p/m:v1", "model/busy")
    for move in range(150):
        sdk.gql(
            'mutation($l: String!) { setCollectionAlias(input: {link: $l, alias: "canary"}) '
            "{ __typename } }",
            l=f"model/busy:v{move % 2}",
        )
    events = json.loads(sdk.cli("history", "model/busy", "-n", "151", "--json").stdout)
    assert len(events) == 151
    assert len({e["id"] for e in events}) == 151  # pages joined, nothing twice
    assert [e["type"] for e in events[-2:]] == ["alias.set", "link.created"]
    assert events[-1]["after"]["index"] == 1
    assert len(json.loads(sdk.cli("history", "model/busy", "--json").stdout)) == 50


def test_who_moved_production_when_and_the_org_wide_log(sdk: Sdk) -> None:
    """`forebear alias history` lists every move of one alias through every link it was on;
    `forebear audit log` the org's changes, filtered, newest first."""
    for content in (b"a", b"b"):
        (sdk.home / "m.bin").write_bytes(content)
        sdk.cli("artifact", "put", "m.bin", "-n", "p/m", "-t", "model")
        sdk.cli("link", f"p/m:v{content[0] - ord('a')}", "model/fraud")
    sdk.cli("alias", "set", "model/fraud:v0", "production")
    sdk.cli("alias", "set", "model/fraud:v0", "canary")
    sdk.cli("alias", "set", "model/fraud:v1", "production")
    moves = json.loads(sdk.cli("alias", "history", "model/fraud", "production", "--json").stdout)
    links = {
        n["index"]: n["id"]
        for n in sdk.gql('{ collection(registry: "model", name: "fraud") { links { nodes { '
                         "id index } } } }")["collection"]["links"]["nodes"]
    }  # fmt: skip
    assert [(m["type"], m["before"]["link"], m["after"]["link"]) for m in moves] == [
        ("alias.set", links[0], links[1]),
        ("alias.set", None, links[0]),
    ]
    table = sdk.cli("alias", "history", "model/fraud", "production", COLUMNS="200").stdout
    assert "link: model/fraud:v0 -> model/fraud:v1" in table
    logged = json.loads(sdk.cli("audit", "log", "--type", "alias.set", "--json").stdout)
    assert [e["after"]["alias"] for e in logged] == ["production", "canary", "production"]
    assert [e["seq"] for e in logged] == sorted((e["seq"] for e in logged), reverse=True)
    both = json.loads(
        sdk.cli("audit", "log", "-t", "alias.set", "-t", "link.created", "--json").stdout
    )
    assert [e["type"] for e in both].count("link.created") == 2
    assert len(json.loads(sdk.cli("audit", "log", "-n", "1", "--json").stdout)) == 1
    assert sdk.cli("audit", "log", "--since", "2999-01-01").stdout.strip() == "(none)"
    assert json.loads(sdk.cli("audit", "log", "--actor", "nobody", "--json").stdout) == []
    key = sdk.gql('mutation { createUser(input: {name: "vic"}) { key } }')["createUser"]["key"]
    for args, said in (
        (("audit", "log", "--since", "yesterday"), "since: 'yesterday' is no ISO 8601 time"),
        (("alias", "history", "model/nope", "production"), "no collection 'model/nope'"),
        (("alias", "history", "fraud", "production"), "give a collection as registry/collection"),
    ):
        refused = sdk.cli(*args, check=False)
        assert (refused.returncode, said in refused.stderr) == (1, True), refused.stderr
    refused = sdk.cli("audit", "log", check=False, FOREBEAR_API_KEY=key)
    assert (refused.returncode, "only org admins" in refused.stderr) == (1, True)


def test_a_connection_that_keeps_dropping_is_survived(
    sdk: Sdk, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(sdk.base.rsplit(":", 1)[1])
    payload = os.urandom(8 * 2**20)
    (sdk.home / "w.bin").write_bytes(payload)
    with TcpProxy("127.0.0.1", port) as proxy:
        monkeypatch.setenv("FOREBEAR_URL", f"http://127.0.0.1:{proxy.port}")
        stop = threading.Event()

        def flap() -> None:  # cut every connection, and refuse new ones for a moment
            while not stop.wait(0.3):
                proxy.stop()
                time.sleep(0.2)
                proxy.start()

        flapper = threading.Thread(target=flap, daemon=True)
        flapper.start()
        try:
            with forebear.init(project="flaky") as run:
                for step in range(20):
                    run.log({"loss": 1.0 / (step + 1)})
                logged = run.log_artifact("w.bin", type="model")
            got = forebear.Api().artifact(logged.id or "").download(sdk.home / "back")
        finally:
            stop.set()
            flapper.join()
    assert hashlib.sha256((got / "w.bin").read_bytes()).digest() == hashlib.sha256(payload).digest()
    found = sdk.gql(
        'query($id: ID!) { run(id: $id) { status metrics(keys: ["loss"]) { points { step } } } }',
        id=run.id,
    )["run"]
    assert found["status"] == "FINISHED"
    assert [p["step"] for p in found["metrics"][0]["points"]] == list(range(20))


def _venv(version: str) -> Path:
    """A virtualenv of that Python with the SDK installed from sdk/ (as `pip install ./sdk`),
    kept between runs under ~/.cache/forebear/sdk-venvs while sdk/pyproject.toml is the same."""
    # pyenv's own install first: its shims only answer for the versions a project selects
    installed = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python"))
    python = str(installed[-1]) if installed else shutil.which(f"python{version}")
    if python is None or subprocess.run([python, "-V"], check=False).returncode != 0:
        pytest.fail(f"Python {version} is not installed: the SDK is tested on it (pyenv)")
    stamp = hashlib.sha256((ROOT / "sdk" / "pyproject.toml").read_bytes()).hexdigest()[:12]
    venv = Path.home() / ".cache" / "forebear" / "sdk-venvs" / f"{version}-{stamp}"
    if not (venv / "ok").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(ROOT / "sdk")],
            check=True,
            timeout=600,
        )
        (venv / "ok").touch()
    else:  # the code may have changed: install it again, without fetching dependencies
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--force-reinstall",
                str(ROOT / "sdk"),
            ],
            check=True,
            timeout=600,
        )
    return venv / "bin" / "python"


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_the_quick_start_runs_on_the_oldest_and_newest_python(sdk: Sdk, version: str) -> None:
    from tests.sdk.test_sdk import QUICKSTART, RUNS

    # past SMALL: uploaded alone and downloaded through the buffers of Cache._download
    weights = f"weights for {version}".encode() + os.urandom(3 * 2**19)
    (sdk.home / "my_model.h5").write_bytes(weights)
    python = _venv(version)
    sdk.python(QUICKSTART, python=str(python))
    done = sdk.python(
        "import sys, forebear; print(sys.version_info[:2], forebear.__version__)",
        python=str(python),
    )
    assert done.stdout.startswith(f"({version.replace('.', ', ')})")
    [run] = sdk.gql(RUNS)["runs"]["nodes"]
    assert run["status"] == "FINISHED"
    art = sdk.python(
        "import forebear\n"
        "a = forebear.Api().artifact('models_quickstart/gemma-finetuned:latest')\n"
        "a.verify(a.download('got'))\nprint(a.qualified_name)",
        python=str(python),
    )
    assert art.stdout.strip() == "models_quickstart/gemma-finetuned:v0"
    assert (sdk.home / "got" / "my_model.h5").read_bytes() == weights
    drafted = sdk.python(
        "import forebear\n"
        "a = forebear.Api().artifact('models_quickstart/gemma-finetuned:latest')\n"
        "run = forebear.init(project='models_quickstart')\n"
        "d = a.new_draft()\nd.add_file('my_model.h5', name='copy.h5')\n"
        "n = run.log_artifact(d)\nn.aliases.append('py')\nn.save()\n"
        "run.log({'img': forebear.Image([[0, 255]]), 't': forebear.Table(['a'], [[1]]),\n"
        "  'wav': forebear.Audio([0.5], sample_rate=8000), 'vid': forebear.Video([[[[1]]]]),\n"
        "  'cm': forebear.plot.confusion_matrix(y_true=[0, 1], preds=[1, 1])})\n"
        "run.finish()\n"
        "print(n.version, sorted(n.aliases), n.logged_by().id == run.id, len(a.used_by()))\n"
        "print(run.id)",
        python=str(python),
    )
    said, run_id = drafted.stdout.strip().split("\n")
    assert said.split() == ["v1", "['latest',", "'py']", "True", "0"]
    media = sdk.gql(
        'query($n: String!) { artifact(project: "models_quickstart", name: $n) { type '
        "versions { nodes { fileCount } } } }",
        n=f"run-{run_id}-media",
    )
    assert media["artifact"] == {"type": "run-media", "versions": {"nodes": [{"fileCount": 5}]}}
