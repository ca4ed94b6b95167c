"""The README's examples run as written against a real server: every Python and shell block of
the sections that talk to one, in the order a reader meets them. (The Quick start's own blocks
start the servers and this suite: `make test` is them running.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.sdk.conftest import Sdk

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "From training code: the Python SDK",
    "Raw GraphQL, for frontends and other languages",
    "Automations: webhooks when the registry changes",
    "Retrying a mutation safely",
    "OpenLineage: pipelines in",
    "GTO: a DVC model registry's history in",
)
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    """The fenced blocks of one language in SECTIONS, in README order."""
    text = (ROOT / "README.md").read_text()
    found = []
    for section in re.split(r"^## ", text, flags=re.MULTILINE):
        title = section.split("\n", 1)[0].strip()
        if title in SECTIONS:
            found += [body for lang, body in FENCE.findall(section) if lang == language]
    return found


def test_the_readme_sections_have_examples_to_run() -> None:
    assert len(blocks("python")) >= 2
    assert len(blocks("sh")) >= 3


def test_every_python_and_shell_example_runs_as_written(sdk: Sdk) -> None:
    (sdk.home / "my_model.h5").write_bytes(b"the reader's model file")
    # As in a checkout: ../shared beside the working directory (the GTO example is there).
    (sdk.home.parent / "shared").symlink_to(ROOT.parent / "shared")
    for code in blocks("python"):
        sdk.python(code)
    script = "set -e\n" + "\n".join(blocks("sh"))
    env = {
        **sdk.env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=sdk.home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    production = sdk.gql('{ linkedVersion(ref: "model/fraud-clf:production") { semver } }')
    assert production["linkedVersion"] == {"semver": "1.0.0"}
    assert (sdk.home / "fetched" / "model.pkl").read_bytes() == b"weights"
    # DVCLive's example, run outside any git repository: W&B's default project
    dvc = sdk.gql('{ artifactVersion(ref: "uncategorized/mnist-cnn:candidate") { type } }')
    assert dvc["artifactVersion"] == {"type": "model"}
    nightly = sdk.gql('{ runs(project: "models_quickstart") { nodes { key lastStep status } } }')
    assert {"key": "nightly-42", "lastStep": 2, "status": "FINISHED"} in nightly["runs"]["nodes"]
    runs = sdk.gql('{ runs(project: "fraud") { nodes { id } } }')["runs"]["nodes"]
    assert len(runs) == 2  # the raw walkthrough's, and the retried one made once
