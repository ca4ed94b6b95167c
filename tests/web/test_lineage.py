"""The lineage explorer in a real browser: from a linked model back to the dataset it was
trained on, then a dataset's downstream and its impact on the registry."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.conftest import gql, log, shot, sign_in

USE = """mutation($r: ID!, $v: String!) {
  useArtifactVersion(input: {run: $r, version: $v}) { __typename } }"""


def pipeline(base: str) -> None:
    """raw table -> prep run -> clean dataset -> train run -> model, linked as zoo/fraud:v0."""
    gql(
        base,
        'mutation { createRegistry(input: {name: "zoo", stages: ["production"]}) '
        "{ registry { id } } }",
    )
    raw = log(base, "fraud", "raw", {"data": b"raw rows"}, kind="dataset")
    prep = gql(
        base, 'mutation { startRun(input: {project: "fraud", name: "prep"}) { run { id } } }'
    )
    prep_id = prep["startRun"]["run"]["id"]
    gql(
        base,
        USE,
        r=prep_id,
        v=raw,
    )
    clean = log(base, "fraud", "clean", {"data": b"clean rows"}, kind="dataset", run=prep_id)
    train = gql(
        base,
        'mutation { startRun(input: {project: "fraud", name: "train", jobType: "train"}) '
        "{ run { id } } }",
    )
    train_id = train["startRun"]["run"]["id"]
    gql(
        base,
        USE,
        r=train_id,
        v=clean,
    )
    model = log(base, "fraud", "clf", {"data": b"weights"}, run=train_id)
    link = gql(
        base,
        """mutation($v: String!) { linkVersion(input: {registry: "zoo", collection: "fraud",
        version: $v, createCollection: true}) { link { id } } }""",
        v=model,
    )["linkVersion"]["link"]["id"]
    gql(
        base,
        'mutation($l: String!) { assignStage(input: {link: $l, stage: "production"}) '
        "{ link { id } } }",
        l=link,
    )


def test_a_model_leads_back_to_its_data_and_the_data_to_the_models_it_feeds(
    page: Page, server: tuple[str, int]
) -> None:
    base, _ = server
    pipeline(base)
    sign_in(page, path="/lineage?ref=zoo/fraud:production&dir=UPSTREAM&depth=10")
    graph = page.get_by_role("img", name="Lineage graph: 5 nodes, 4 edges")
    expect(graph).to_be_visible()  # raw, prep, clean, train and the model: drawn
    expect(page.get_by_role("status", name="Lineage summary")).to_contain_text("5 nodes drawn of 5")
    assert page.locator(".graph canvas").count() == 1  # drawn, not a list of text
    # the chain from the raw table to the model, highlighted
    page.get_by_label("Select a node").select_option(label="fraud/raw:v0 (dataset)")
    page.get_by_role("button", name="Chain from here").click()
    page.get_by_label("Select a node").select_option(label="fraud/clf:v0 (model)")
    page.get_by_role("button", name="Chain to here").click()
    expect(page.get_by_role("status", name="Derivation")).to_contain_text(
        "fraud/clf:v0 descends from fraud/raw:v0 in 4 steps"
    )
    assert len((page.locator(".graph").get_attribute("data-chain") or "").split()) == 5
    shot(page, "lineage")
    # a click on the middle of the five (the graph is fitted, its labels' room on the right)
    box = graph.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + (box["width"] - 140) / 2, box["y"] + box["height"] / 2)
    selected = page.get_by_role("complementary", name="Selected node")
    expect(selected).to_contain_text("fraud/clean:v0")
    page.get_by_label("Select a node").select_option(label="fraud/raw:v0 (dataset)")
    expect(selected).to_contain_text("fraud/raw:v0")  # or by keyboard
    page.get_by_label("Select a node").select_option(label="fraud/clean:v0 (dataset)")
    expect(selected).to_contain_text("fraud/clean:v0")
    page.reload()  # the selection is part of the link
    expect(selected).to_contain_text("fraud/clean:v0")
    selected.get_by_role("button", name="Impact").click()
    expect(selected.get_by_role("region", name="Impact")).to_contain_text(
        "zoo/fraud v0 @latest [production]"
    )
    # from the raw table, downstream only: everything that came of it
    page.get_by_label("Start from").fill("fraud/raw:v0")
    page.get_by_label("Direction").select_option("DOWNSTREAM")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("img", name="Lineage graph: 5 nodes, 4 edges")).to_be_visible()
    # a run reads with its job type when it was given one
    expect(page.get_by_label("Select a node")).to_contain_text("train (run · train)")
    expect(page.get_by_label("Select a node")).to_contain_text("prep (run)")
    assert "dir=DOWNSTREAM" in page.url
    assert "ref=fraud%2Fraw%3Av0" in page.url
    # a shallow walk says more lies beyond; expanding a node adds its side
    page.get_by_label("Depth").fill("1")
    expect(page.get_by_role("status", name="Lineage summary")).to_contain_text("raise the depth")
    expect(page.get_by_role("img", name="Lineage graph: 2 nodes, 1 edges")).to_be_visible()
    page.get_by_label("Select a node").select_option(label="prep (run)")
    page.get_by_role("button", name="Expand downstream").click()  # one hop more, from prep
    expect(page.get_by_role("img", name="Lineage graph: 3 nodes, 2 edges")).to_be_visible()


def test_a_datasets_page_names_the_registered_models_made_from_it(
    page: Page, server: tuple[str, int]
) -> None:
    """The raw table's version page says what a change to it would touch: the linked model
    two runs downstream, with its stage; a model's own page has none below it."""
    base, _ = server
    pipeline(base)
    sign_in(page, path="/versions/fraud/raw:v0")
    made = page.get_by_role("region", name="Made into")
    expect(made).to_contain_text("zoo/fraud:v0")
    expect(made.locator(".stage")).to_have_text("production")
    made.get_by_role("link", name="zoo/fraud:v0").click()
    expect(page.get_by_role("heading", name="zoo/fraud")).to_be_visible()
    page.goto("/versions/fraud/clf:v0")
    expect(page.get_by_role("region", name="Made into")).to_contain_text(
        "No linked version descends from it"
    )


def test_a_reference_that_names_nothing_says_what_to_type(
    page: Page, server: tuple[str, int]
) -> None:
    sign_in(page, path="/lineage?ref=nowhere/nothing:v9")
    expect(page.get_by_role("alert")).to_contain_text("names no version, run or linked version")
    page.goto("/lineage?ref=garbage")  # not a reference at all (not a linked one gone wrong)
    expect(page.get_by_role("alert")).to_contain_text(
        "garbage is no reference: name a version (project/artifact:v0 or :latest)"
    )


def test_a_dataset_used_by_more_runs_than_its_page_lists_leads_to_all_of_them(
    page: Page, server: tuple[str, int]
) -> None:
    """A shared dataset's page lists the first 100 runs that used it and says so; its link
    opens the downstream lineage, which draws every one."""
    base, _ = server
    data = log(base, "shared", "corpus", {"data": b"rows"}, kind="dataset")
    for n in range(101):
        run = gql(
            base,
            'mutation($n: String!) { startRun(input: {project: "shared", name: $n}) '
            "{ run { id } } }",
            n=f"eval-{n}",
        )["startRun"]["run"]["id"]
        gql(base, USE, r=run, v=data)
    sign_in(page, path="/versions/shared/corpus:v0")
    used = page.get_by_role("listitem").filter(has=page.locator("a[href*='?run=']"))
    expect(used).to_have_count(100)
    page.get_by_role("link", name="downstream lineage").click()
    expect(page.get_by_role("img", name="Lineage graph: 102 nodes, 101 edges")).to_be_visible()
