"""`forebear import gto` on a real GTO repository (../shared/data/gto/example-gto.bundle): the
registry afterwards answers as `gto show` and `gto history` do on the same repository, with the
taggers and tag dates, and importing again brings nothing new."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.sdk.conftest import Sdk

BUNDLE = Path(__file__).resolve().parents[3] / "shared" / "data" / "gto" / "example-gto.bundle"
GTO = str(Path(sys.executable).parent / "gto")
SHOW = """query($ref: String!) { linkedVersion(ref: $ref) { semver deregistered
  version { references { uri } metadata } } }"""
COLLECTION = """query($name: String!) { collection(registry: "model", name: $name) {
  deprecated history(first: 100) { nodes { type actor time after } } } }"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if not BUNDLE.exists():
        pytest.fail(f"{BUNDLE} is missing: the GTO example repository comes with ../shared")
    target = tmp_path / "example-gto"
    subprocess.run(["git", "clone", "-q", str(BUNDLE), str(target)], check=True)
    return target


def gto(repo: Path, *args: str) -> object:
    done = subprocess.run([GTO, *args, "--json"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_gto_repository_imports_as_gto_shows_it(sdk: Sdk, repo: Path) -> None:
    done = sdk.cli("import", "gto", str(repo), "--json")
    report = json.loads(done.stdout)
    history = gto(repo, "history")
    assert isinstance(history, list)
    assert report["imported"] == len(history)
    assert report["failed"] == 0

    assert_shows_as_gto(sdk, repo)
    # `gto history`: every tag is one event, with its tagger and date.
    events = {}
    for name in ("churn", "segment", "cv-class"):
        nodes = sdk.gql(COLLECTION, name=name)["collection"]["history"]["nodes"]
        for node in nodes:
            imported = node["after"].get("imported")
            if imported:
                events[imported["key"].rsplit(":", 1)[-1]] = node
    for entry in history:
        event = events[entry["ref"]]
        assert event["actor"] == entry["author"]
        assert datetime.fromisoformat(
            event["time"].replace("Z", "+00:00")
        ) == datetime.fromisoformat(entry["timestamp"])
    # A version references the artifact's file at the tagged commit; no bytes were copied.
    churn = sdk.gql(SHOW, ref="model/churn:3.0.0")["linkedVersion"]["version"]
    assert churn["metadata"]["gto"]["commit"].startswith("5561a3b")
    assert churn["references"][0]["uri"].endswith("#models/churn.pkl")
    segment = sdk.gql(SHOW, ref="model/segment:0.4.1")["linkedVersion"]["version"]
    assert segment["references"] == [{"uri": "s3://mycorp/proj-ml/segm-model-2022-04-15.pt"}]

    # Again: nothing new.
    again = json.loads(sdk.cli("import", "gto", str(repo), "--json").stdout)
    assert (again["imported"], again["already imported"]) == (0, len(history))

    # The registry moves on in git (an unassignment, a deregistration, a deprecation, made by
    # gto itself): importing again brings just those.
    for key, value in (("user.name", "Ada Tagger"), ("user.email", "ada@example.com")):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    for args in (("churn", "v3.0.0", "prod"), ("segment", "v0.4.1"), ("cv-class",)):
        done = subprocess.run([GTO, "deprecate", *args], cwd=repo, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    later = json.loads(sdk.cli("import", "gto", str(repo), "--json").stdout)
    assert (later["imported"], later["failed"]) == (3, 0)
    assert_shows_as_gto(sdk, repo)
    assert sdk.gql(SHOW, ref="model/segment:0.4.1")["linkedVersion"]["deregistered"] is True
    deprecated = sdk.gql(COLLECTION, name="cv-class")["collection"]
    assert deprecated["deprecated"] is True
    assert deprecated["history"]["nodes"][0]["actor"] == "Ada Tagger"


def assert_shows_as_gto(sdk: Sdk, repo: Path) -> None:
    """`gto show`: each artifact's latest version and the version each stage points at."""
    shown = gto(repo, "show")
    assert isinstance(shown, dict)
    for name, state in shown.items():
        latest = sdk.gql(SHOW, ref=f"model/{name}:latest")["linkedVersion"]
        if state["version"] is None:
            assert latest is None or latest["deregistered"], name
        else:
            assert f"v{latest['semver']}" == state["version"], name
        for stage, version in state["stage"].items():
            holder = sdk.gql(SHOW, ref=f"model/{name}:{stage}")["linkedVersion"]
            if version is None:
                assert holder is None or holder["deregistered"], (name, stage)
            else:
                assert f"v{holder['semver']}" == version, (name, stage)
