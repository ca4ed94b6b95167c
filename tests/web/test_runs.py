"""A project's runs compared as W&B users compare them before linking, and a version's page:
files that download with the user's key, metadata, the run that made it and who used it."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import ADMIN_KEY
from tests.web.conftest import gql, log, shot, sign_in

START = """mutation($name: String!, $config: JSON!) { startRun(input: {project: "mnist",
  name: $name, config: $config, jobType: "train", group: "sweep-3", tags: ["cnn"],
  notes: "halved the learning rate after epoch 2"}) { run { id } } }"""
METRICS = """mutation($run: ID!, $points: [MetricPointInput!]!) {
  logMetrics(input: {run: $run, points: $points}) { logged } }"""
SUMMARY = """mutation($run: ID!, $summary: JSON!) {
  updateRun(input: {run: $run, summary: $summary}) { run { id } } }"""


def train(base: str, name: str, lr: float, accs: list[float]) -> str:
    run: str = gql(base, START, name=name, config={"lr": lr})["startRun"]["run"]["id"]
    points = [{"step": i, "key": "acc", "value": a} for i, a in enumerate(accs)]
    points += [{"step": len(accs), "key": "loss", "value": "NaN"}]  # diverged: data all the same
    gql(base, METRICS, run=run, points=points)
    gql(base, SUMMARY, run=run, summary={"acc": accs[-1], "loss": "NaN"})
    return run


def test_runs_are_compared_and_a_version_page_downloads_its_files(
    page: Page, server: tuple[str, int]
) -> None:
    base, _ = server
    slow = train(base, "slow", 0.001, [0.2, 0.4, 0.5])
    train(base, "fast", 0.1, [0.5, 0.8, 0.9, 0.95])
    content = b"0123456789" * 100
    log(
        base,
        "mnist",
        "weights",
        {"nested/model.bin": content},
        run=slow,
        metadata={"framework": "torch"},
    )

    sign_in(page, path="/")
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Projects").click()
    projects = page.get_by_role("table", name="Projects")
    expect(projects).to_contain_text("mnist")
    projects.get_by_role("link", name="mnist").click()
    runs = page.get_by_role("table", name="Runs")
    expect(runs).to_contain_text("slow")
    expect(runs).to_contain_text("lr=0.1")
    expect(runs).to_contain_text("train · group sweep-3 · #cnn")  # what kind of run, as W&B's
    expect(runs).to_contain_text("halved the learning rate after epoch 2")
    page.get_by_label("Compare slow").click()  # the URL changes, then the box
    expect(page.get_by_label("Compare slow")).to_be_checked()
    page.get_by_label("Compare fast").click()  # the URL changes, then the box
    expect(page.get_by_label("Compare fast")).to_be_checked()
    metrics = page.get_by_role("region", name="Metrics")
    expect(metrics.get_by_role("img", name="acc: fast, slow")).to_be_visible()
    # every loss point is NaN: no empty axes, only what could not be drawn
    loss = metrics.get_by_role("figure", name="loss")
    expect(loss).to_contain_text("Nothing to draw: fast: NaN at step 4; slow: NaN at step 3")
    expect(metrics.get_by_role("img", name="loss: fast, slow")).to_have_count(0)
    assert page.url.count("run=") == 2  # the comparison is a link to share
    shot(page, "project")

    runs.get_by_role("link", name="mnist/weights:v0").click()
    expect(page.get_by_role("heading", name="mnist/weights:v0")).to_be_visible()
    expect(page.get_by_label("metadata")).to_contain_text("torch")
    expect(page.get_by_label("config")).to_contain_text("0.001")
    with page.expect_download() as caught:
        page.get_by_role("button", name="nested/model.bin").click()
    saved = caught.value.path()
    assert saved is not None
    with open(saved, "rb") as f:
        assert f.read() == content  # fetched with the key: a plain link could not be
    expect(page.get_by_role("region", name="Changes")).to_have_count(0)  # v0: nothing before
    shot(page, "version")
    # the next version's page says what it changed
    log(base, "mnist", "weights", {"nested/model.bin": content * 2, "notes.md": b"retrained"})
    page.goto("/versions/mnist/weights:v1")
    changes = page.get_by_role("table", name="Changes from v0")
    expect(changes.locator("tbody tr")).to_have_text(
        ["nested/model.binchanged1.0 kB2.0 kB", "notes.mdadded—9 B"]
    )


def test_a_version_page_lists_the_references_it_keeps(page: Page, server: tuple[str, int]) -> None:
    base, _ = server
    made = gql(
        base,
        """mutation($i: CreateArtifactVersionInput!) { createArtifactVersion(input: $i) {
        version { id } } }""",
        i={
            "project": "mnist",
            "artifact": "lake",
            "type": "dataset",
            "files": [],
            "references": [
                {"path": "train.parquet", "uri": "s3://lake/train.parquet", "size": 2048}
            ],
        },
    )["createArtifactVersion"]["version"]["id"]
    gql(
        base,
        "mutation($v: ID!) { commitArtifactVersion(input: {version: $v}) { __typename } }",
        v=made,
    )
    sign_in(page, path=f"/versions/{made}")
    references = page.get_by_role("table", name="References")
    expect(references).to_contain_text("s3://lake/train.parquet")
    expect(references).to_contain_text("train.parquet")
    expect(references).to_contain_text("2.0 kB")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A PNG of one colour."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_version_page_shows_its_images(page: Page, server: tuple[str, int]) -> None:
    """Logged media and sample images are seen on the version's page, fetched with the key."""
    base, _ = server
    log(
        base,
        "mnist",
        "samples",
        {
            "val/10_0.png": png(3, 2, (255, 0, 0)),
            "val/2_0.png": png(5, 4, (0, 0, 255)),
            "a.txt": b"x",
        },
        types={"val/10_0.png": "image/png", "val/2_0.png": "image/png", "a.txt": "text/plain"},
    )
    sign_in(page, path="/versions/mnist/samples:v0")
    images = page.get_by_role("region", name="Images")
    red = images.get_by_role("img", name="val/10_0.png")
    expect(red).to_be_visible()
    assert red.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [3, 2]
    expect(images.get_by_role("img", name="val/2_0.png")).to_be_visible()
    # the text file is only in the list; a run's steps in order, 2 before 10
    expect(images.locator("figcaption")).to_have_text(["val/2_0.png", "val/10_0.png"])
    shot(page, "version-images")


def test_a_runs_logged_media_are_seen_on_its_version_page(
    page: Page, server: tuple[str, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What a W&B script logs with the SDK (tables, an image in a table's cell, charts,
    histograms, sound, video, a page) is shown on the page of the run's media artifact: each
    key's latest step, a page's scripts never run."""
    import forebear

    base, _ = server
    for name, value in {
        "FOREBEAR_URL": base,
        "FOREBEAR_API_KEY": ADMIN_KEY,
        "FOREBEAR_CACHE_DIR": str(tmp_path / "cache"),
        "FOREBEAR_SILENT": "1",
    }.items():
        monkeypatch.setenv(name, value)
    frames = [[[[255 * (t == c)] * 4] * 2 for c in range(3)] for t in range(3)]  # t x c x h x w
    with forebear.init(project="mnist", dir=str(tmp_path)) as run:
        for step in range(2):
            run.log(
                {
                    "preds": forebear.Table(  # W&B's prediction table: an image in a cell
                        columns=["step", "label", "input"],
                        data=[[step, "cat", forebear.Image([[255] * (step + 2)])]],
                    ),
                    "sample": forebear.Image([[255 * step] * (step + 1)]),  # 1x1, then 2x1
                }
            )
        run.log(
            {
                "cm": forebear.plot.confusion_matrix(
                    y_true=[0, 1, 1], preds=[0, 1, 0], class_names=["cat", "dog"]
                ),
                "pr": forebear.plot.pr_curve(
                    [0, 1, 1, 0], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]]
                ),
                "weights": forebear.Histogram([1, 2, 2, 3, 3, 3], num_bins=3),
                "sizes": forebear.plot.scatter(
                    forebear.Table(columns=["h", "w"], data=[[1, 2], [1, 3], [2, 5]]),
                    "h",
                    "w",
                    title="Sizes",
                ),
                "spread": forebear.plot.histogram(
                    forebear.Table(columns=["v"], data=[[1], [2], [2], [3]]), "v", title="Spread"
                ),
                "importance": forebear.plot.bar(
                    forebear.Table(columns=["feature", "gain"], data=[["age", 0.7], ["zip", 0.1]]),
                    "feature",
                    "gain",
                    title="Importance",
                ),
                "tone": forebear.Audio([0.0, 0.5] * 4000, sample_rate=8000),  # a second
                "rollout": forebear.Video(frames, fps=2),
                "report": forebear.Html(
                    "<h1>Report</h1><script>document.body.append('script ran')</script>"
                ),
            }
        )
    sign_in(page, path=f"/versions/mnist/run-{run.id}-media:v0")
    charts = page.get_by_role("region", name="Charts and tables")
    # each key's latest step: preds at step 1 only
    expect(charts.locator("figure.media > figcaption")).to_have_text(
        [
            "cm/2.chart.json",
            "importance/2.chart.json",
            "pr/2.chart.json",
            "preds/1.table.json",
            "sizes/2.chart.json",
            "spread/2.chart.json",
        ]
    )
    sizes = charts.get_by_role("img", name="3 points, w against h")  # two share an x: both drawn
    expect(sizes.locator("circle")).to_have_count(3)
    spread = charts.get_by_role("figure", name="Spread")
    expect(spread.get_by_role("img", name="20 bins from 1 to 3")).to_be_visible()
    bars = charts.get_by_role("table", name="Importance")
    expect(bars.locator("tr")).to_have_text(["age0.7", "zip0.1"])
    long, short = bars.locator("span").evaluate_all(
        "spans => spans.map(s => s.getBoundingClientRect().width)"
    )
    assert abs(long / short - 7) < 0.1  # bars as long as their values
    preds = charts.get_by_role("table", name="preds/1.table.json")
    expect(preds).to_contain_text("1cat")
    cell = preds.get_by_role("img", name="preds/1.table/0_2.png")  # fetched with the key
    expect(cell).to_be_visible()
    assert cell.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [3, 1]
    matrix = charts.get_by_role("table", name="Confusion Matrix Curve")
    expect(matrix.locator("tbody tr")).to_have_text(["cat10", "dog11"])  # actual x predicted
    pr = charts.get_by_role("figure", name="Precision-Recall Curve")
    curves = pr.get_by_role("img", name="2 curves, precision against recall")
    expect(curves.locator("polyline")).to_have_count(2)  # a class each, its steps kept
    expect(pr).to_contain_text("recall: 0 to 1")
    histograms = page.get_by_role("region", name="Histograms")
    expect(histograms.get_by_role("img", name="3 bins from 1 to 3")).to_be_visible()
    tone = page.get_by_role("region", name="Audio and video").locator("audio")
    duration = tone.evaluate(
        """a => new Promise(done => a.readyState >= 1 ? done(a.duration)
             : a.addEventListener('loadedmetadata', () => done(a.duration)))"""
    )
    assert duration == 1.0  # the browser decoded the WAV the SDK wrote
    images = page.get_by_role("region", name="Images")
    # a table's cells are shown in the table, not among the images
    expect(images.locator("figcaption")).to_have_text(["rollout/2.apng", "sample/1.png"])
    expect(images).to_contain_text("Each logged key's latest step")
    rollout = images.get_by_role("img", name="rollout/2.apng")
    expect(rollout).to_be_visible()
    assert rollout.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [4, 2]
    report = page.frame_locator("iframe[title='report/2.html']")
    expect(report.get_by_role("heading", name="Report")).to_be_visible()
    expect(report.locator("body")).not_to_contain_text("script ran")  # sandboxed: no script
    summary = page.get_by_label("summary metrics")
    expect(summary).to_contain_text("audio-file tone/2.wav")  # not a page of JSON
    shot(page, "version-media")


def test_the_projects_page_lists_every_project_page_by_page(
    page: Page, server: tuple[str, int]
) -> None:
    base, _ = server
    names = [f"team-{i:02d}" for i in range(52)]
    for name in names:
        gql(base, "mutation($p: String!) { startRun(input: {project: $p}) { run { id } } }", p=name)
    sign_in(page, path="/projects")
    projects = page.get_by_role("table", name="Projects")
    rows = projects.get_by_role("row")
    expect(rows).to_have_count(51)  # the heading and the first 50, by name
    expect(rows.nth(50)).to_contain_text("team-49")
    page.get_by_role("button", name="More projects").click()
    expect(rows).to_have_count(53)
    expect(rows.nth(52)).to_contain_text("team-51")
    expect(page.get_by_role("button", name="More projects")).to_have_count(0)
    projects.get_by_role("link", name="team-51").click()
    expect(page).to_have_url(f"{base}/projects/team-51")
    # Someone in none of them is told how to be added, not that there are none.
    key = gql(base, 'mutation { createUser(input: {name: "newcomer"}) { key } }')["createUser"]
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, key["key"], path="/projects")
    expect(page.get_by_text("No project you may read")).to_contain_text("setProjectMember")
    page.get_by_role("link", name="Models").click()  # and in no registry
    expect(page.get_by_text("You hold a role in no registry")).to_contain_text("setRegistryMember")
    expect(page.get_by_role("region", name="Recent changes")).to_have_count(0)
