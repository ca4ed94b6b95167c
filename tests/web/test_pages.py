"""The pages a registry user lives in, as a user uses them: sign in, find a model, promote a
version and see the history say so, be refused with the reason, run a query in GraphiQL."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.helpers import ADMIN_KEY
from tests.web.conftest import gql, log, shot, sign_in


def seed(base: str) -> dict[str, str]:
    """A registry with stages, a model with two linked versions, and a viewer's key."""
    gql(
        base,
        """mutation { createRegistry(input: {name: "zoo", description: "Production models",
        stages: ["staging", "production"]}) { registry { id } } }""",
    )
    links = []
    for content in (b"weights one", b"weights two"):
        run = gql(
            base,
            'mutation { startRun(input: {project: "fraud", name: "train"}) { run { id } } }',
        )["startRun"]["run"]["id"]
        version = log(base, "fraud", "clf", {"model.pkl": content}, run=run)
        links.append(
            gql(
                base,
                """mutation($v: String!) { linkVersion(input: {registry: "zoo",
                collection: "fraud-clf", version: $v, createCollection: true}) { link { id } } }""",
                v=version,
            )["linkVersion"]["link"]["id"]
        )
    log(base, "fraud", "clf", {"model.pkl": b"weights three"})  # not linked: the page links it
    viewer = gql(base, 'mutation { createUser(input: {name: "vera"}) { key } }')["createUser"][
        "key"
    ]
    gql(
        base,
        'mutation { setRegistryMember(input: {registry: "zoo", principal: "vera", role: VIEWER}) '
        "{ registry { id } } }",
    )
    return {"v0": links[0], "v1": links[1], "viewer": viewer}


def test_sign_in_refuses_a_wrong_key_and_keeps_the_key_out_of_urls(
    page: Page, server: tuple[str, int]
) -> None:
    sign_in(page, "fbk_not-a-key")
    expect(page.get_by_role("alert")).to_contain_text("The server refused this key")
    shot(page, "sign-in-refused")
    sign_in(page)
    expect(page.get_by_role("heading", name="Registries")).to_be_visible()
    assert "fbk_" not in page.url
    assert page.evaluate("sessionStorage.getItem('forebear.key')") == ADMIN_KEY
    assert page.evaluate("localStorage.length") == 0


def test_the_home_page_shows_each_registry_and_its_newest_changes(
    page: Page, server: tuple[str, int]
) -> None:
    base, _ = server
    seeded = seed(base)
    gql(
        base,
        """mutation { assignStage(input: {link: "zoo/fraud-clf:v0", stage: "production"})
        { link { id } } }""",
    )
    for n in range(6):  # one more than the home page shows of a registry
        gql(
            base,
            """mutation($c: String!) { linkVersion(input: {registry: "zoo", collection: $c,
            version: "fraud/clf:latest", createCollection: true}) { link { id } } }""",
            c=f"m{n}",
        )
    sign_in(page)
    zoo = page.get_by_role("listitem", name="Registry zoo")
    expect(zoo).to_contain_text("Production models")
    expect(zoo.get_by_role("listitem").first).to_have_text("fraud-clf latest v1 · production v0")
    expect(zoo.get_by_role("listitem")).to_have_count(6)
    expect(zoo.get_by_role("link", name="More in zoo")).to_be_visible()
    expect(page.get_by_role("listitem", name="Registry dataset")).to_contain_text(
        "Nothing linked into it yet"
    )
    changes = page.get_by_role("region", name="Recent changes")
    expect(changes.get_by_role("listitem").first).to_contain_text("link.created")
    expect(changes).to_contain_text("stage: — → production")
    expect(changes).to_contain_text("zoo/fraud-clf:v0")  # names, not lnk_ ids
    expect(changes).not_to_contain_text("run.started")  # runs have their own pages
    shot(page, "home")
    zoo.get_by_role("link", name="fraud-clf").click()
    expect(page.get_by_role("heading", name="zoo/fraud-clf")).to_be_visible()
    # A member of two registries (not an org admin, who alone reads the org-wide log) sees
    # those two and the changes in them.
    gql(
        base,
        'mutation { setRegistryMember(input: {registry: "dataset", principal: "vera", '
        "role: VIEWER}) { registry { id } } }",
    )
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, seeded["viewer"])
    expect(page.get_by_role("listitem", name=re.compile("^Registry "))).to_have_count(2)
    changes = page.get_by_role("region", name="Recent changes")
    expect(changes.get_by_role("listitem").first).to_contain_text("link.created")
    expect(changes).to_contain_text("stage: — → production")
    expect(changes.get_by_role("alert")).to_have_count(0)


def test_a_model_is_found_promoted_and_the_history_says_so(
    page: Page, server: tuple[str, int]
) -> None:
    base, _ = server
    seed(base)
    sign_in(page, path="/registries/zoo")
    dashboard = page.get_by_role("table")
    expect(dashboard).to_contain_text("fraud-clf")
    expect(dashboard).to_contain_text("v1")  # the latest version
    page.get_by_label("Search by name").fill("nothing-like-it")
    expect(page.get_by_text("No model matches these filters")).to_be_visible()
    assert "search=nothing-like-it" in page.url  # the filter is in the URL, to share
    page.get_by_label("Search by name").fill("fraud")
    expect(page.get_by_role("table")).to_contain_text("fraud-clf")
    shot(page, "dashboard")
    page.get_by_role("link", name="fraud-clf").click()
    expect(page.get_by_role("heading", name="zoo/fraud-clf")).to_be_visible()
    expect(page.get_by_role("note")).to_have_count(0)  # an org admin may change it all
    page.get_by_label("Stage for v1").select_option("production")
    page.get_by_role("form", name="Assign a stage to v1").get_by_role(
        "button", name="Assign"
    ).click()
    history = page.get_by_role("region", name="History")
    expect(history).to_contain_text("stage.assigned")
    expect(page.get_by_role("button", name="Unassign production from v1")).to_be_visible()
    page.get_by_label("Alias for v0").fill("champion")
    page.get_by_role("form", name="Set an alias on v0").get_by_role(
        "button", name="Set alias"
    ).click()
    expect(history).to_contain_text("alias.set")
    page.get_by_role("textbox", name="Link a version").fill("fraud/clf:v2")
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.get_by_role("region", name="Versions")).to_contain_text("fraud/clf:v2")
    # the history names what the events name by id: fraud/clf:v2, not ver_...
    expect(history).to_contain_text("version: — → fraud/clf:v2")
    expect(history).to_contain_text("latest: zoo/fraud-clf:v1 → zoo/fraud-clf:v2")
    expect(history).not_to_contain_text(re.compile(r"(ver|lnk)_[0-9a-f]{24}"))
    page.get_by_label("Compare v0").click()  # the URL changes, then the box
    expect(page.get_by_label("Compare v0")).to_be_checked()
    page.get_by_label("Compare v1").click()  # the URL changes, then the box
    expect(page.get_by_label("Compare v1")).to_be_checked()
    expect(page.get_by_role("table", name="Runs compared")).to_be_visible()
    assert page.url.count("compare=") == 2
    shot(page, "model")
    # a version's producing run is a link to it in its project
    made = page.get_by_role("region", name="Versions").locator("a[href*='?run=']").first
    expect(made).to_have_text("train")
    made.click()
    expect(page.get_by_role("heading", name="Project fraud")).to_be_visible()
    expect(page.get_by_role("table", name="Runs")).to_contain_text("train")
    page.go_back()
    # the dashboard shows who holds production now
    page.get_by_role("link", name="Models").click()
    page.goto("/registries/zoo")
    expect(page.get_by_role("table")).to_contain_text("champion → v0")
    page.get_by_label("Stage").select_option("production")  # asked of the server
    expect(page.get_by_role("table")).to_contain_text("fraud-clf")
    page.get_by_label("Stage").select_option("staging")
    expect(page.get_by_text("No model matches these filters")).to_be_visible()
    # a version's page says where it is registered, and who did what to it and its links
    page.goto("/versions/fraud/clf:v1")
    registered = page.get_by_role("region", name="Registered as")
    expect(registered).to_contain_text("zoo/fraud-clf:v1")
    expect(registered).to_contain_text("production")
    story = page.get_by_role("region", name="History")
    expect(story).to_contain_text("stage: — → production")
    expect(story).to_contain_text("artifact_version.committed")
    expect(story).to_contain_text("link.created")
    expect(story).not_to_contain_text(re.compile(r"(ver|lnk)_[0-9a-f]{24}"))
    shot(page, "version-story")
    page.goto("/versions/fraud/clf:v2")  # linked by hand above, then left alone
    expect(page.get_by_role("region", name="Registered as")).to_contain_text("zoo/fraud-clf:v2")
    page.get_by_role("region", name="Registered as").get_by_role("link").click()
    expect(page.get_by_role("heading", name="zoo/fraud-clf")).to_be_visible()


def test_an_old_version_holding_an_alias_or_stage_is_shown_however_many_came_after(
    page: Page, server: tuple[str, int]
) -> None:
    """A nightly retrain links a version a day: after 105 of them the dashboard still says
    which version holds champion and staging, the model page shows those rows below the
    newest hundred, and older versions come on asking (and stay through an action)."""
    base, _ = server
    seed(base)
    for night in range(105):
        version = log(base, "nightly", "clf", {"model.pkl": f"night {night}".encode()})
        gql(
            base,
            """mutation($v: String!) { linkVersion(input: {registry: "zoo", collection: "nightly",
            version: $v, createCollection: true}) { link { id } } }""",
            v=version,
        )
    gql(
        base,
        'mutation { setCollectionAlias(input: {link: "zoo/nightly:v1", alias: "champion"})'
        " { link { id } } }",
    )
    gql(
        base,
        'mutation { assignStage(input: {link: "zoo/nightly:v0", stage: "staging"})'
        " { link { id } } }",
    )
    sign_in(page, path="/registries/zoo")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name="nightly"))
    expect(row).to_contain_text("champion → v1")
    expect(row).to_contain_text("v104")  # the latest
    expect(row.get_by_role("cell").nth(3)).to_have_text("v0")  # staging, the first stage column
    row.get_by_role("link", name="nightly").click()
    versions = page.get_by_role("region", name="Versions")
    expect(page.get_by_role("button", name="Remove alias champion from v1")).to_be_visible()
    # latest is the server's to move: offered for removal nowhere
    expect(page.get_by_role("button", name=re.compile("Remove alias latest"))).to_have_count(0)
    expect(page.get_by_role("button", name="Unassign staging from v0")).to_be_visible()
    expect(versions).to_contain_text("older versions not shown")
    # who linked v0 is on its row, though its event is far below the newest hundred
    first = versions.get_by_role("row").filter(has=page.get_by_label("Compare v0", exact=True))
    expect(first).to_contain_text("by admin")
    shot(page, "model-older-versions")
    expect(page.get_by_label("Compare v4", exact=True)).to_have_count(0)
    expect(page.get_by_label("Compare v5", exact=True)).to_be_visible()
    page.get_by_role("button", name="Show older versions").click()
    expect(page.get_by_label("Compare v4", exact=True)).to_be_visible()
    expect(versions).not_to_contain_text("older versions not shown")
    expect(page.get_by_role("button", name="Show older versions")).to_have_count(0)
    page.get_by_label("Alias for v4", exact=True).fill("runner-up")
    page.get_by_role("form", name="Set an alias on v4", exact=True).get_by_role(
        "button", name="Set alias"
    ).click()
    history = page.get_by_role("region", name="History")
    expect(history).to_contain_text("alias: runner-up; link: — → zoo/nightly:v4")
    expect(page.get_by_role("button", name="Remove alias runner-up from v4")).to_be_visible()
    expect(page.get_by_label("Compare v104", exact=True)).to_be_visible()
    # 108 events: the newest 100, then the rest on asking; the first link's among them
    expect(history.get_by_role("listitem")).to_have_count(101)  # and the button's
    expect(history).not_to_contain_text("latest: — → zoo/nightly:v0")
    history.get_by_role("button", name="Show older events").click()
    expect(history).to_contain_text("latest: — → zoo/nightly:v0")
    expect(history.get_by_role("listitem")).to_have_count(108)
    expect(history.get_by_role("button", name="Show older events")).to_have_count(0)


def test_a_models_description_and_tags_are_edited_on_its_page(
    page: Page, server: tuple[str, int]
) -> None:
    base, _ = server
    seeded = seed(base)
    sign_in(page, path="/registries/zoo/fraud-clf")
    about = page.get_by_role("region", name="About")
    expect(about).to_contain_text("No description.")
    about.get_by_role("button", name="Edit description and tags").click()
    about.get_by_label("Description", exact=True).fill("Card fraud scores.\nRetrained nightly.")
    about.get_by_label("Tags (comma-separated)").fill("fraud, nightly , fraud")
    about.get_by_role("button", name="Save").click()
    expect(about.get_by_text("Card fraud scores.")).to_be_visible()
    expect(about.locator(".tag")).to_have_text(["fraud", "nightly"])
    saved = gql(base, '{ collection(registry: "zoo", name: "fraud-clf") { description tags } }')
    assert saved["collection"] == {
        "description": "Card fraud scores.\nRetrained nightly.",
        "tags": ["fraud", "nightly"],
    }
    history = page.get_by_role("region", name="History")
    expect(history.get_by_role("listitem").first).to_contain_text("collection.updated")
    page.goto("/registries/zoo?tag=nightly")  # the dashboard's tag filter finds it
    expect(page.get_by_role("table")).to_contain_text("fraud-clf")
    # A viewer may read it, not change it: the refusal says who grants the role.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, seeded["viewer"], path="/registries/zoo/fraud-clf")
    about = page.get_by_role("region", name="About")
    about.get_by_role("button", name="Edit description and tags").click()
    about.get_by_label("Description", exact=True).fill("vandalised")
    about.get_by_role("button", name="Save").click()
    expect(about.get_by_role("alert")).to_contain_text("setRegistryMember")
    again = gql(base, '{ collection(registry: "zoo", name: "fraud-clf") { description } }')
    assert again["collection"]["description"] == "Card fraud scores.\nRetrained nightly."


def test_a_viewer_who_cannot_promote_sees_why(page: Page, server: tuple[str, int]) -> None:
    base, _ = server
    seeded = seed(base)
    sign_in(page, seeded["viewer"], path="/registries/zoo/fraud-clf")
    expect(page.get_by_role("note")).to_have_text(
        "You are a viewer of zoo: changing its models needs the member role, which an org admin "
        "or an admin of zoo grants."
    )
    page.get_by_label("Stage for v1").select_option("staging")
    page.get_by_role("form", name="Assign a stage to v1").get_by_role(
        "button", name="Assign"
    ).click()
    refusal = page.get_by_role("alert").first
    expect(refusal).to_contain_text("assignStage")
    expect(refusal).to_contain_text(re.compile("grant", re.IGNORECASE))
    shot(page, "refused")
    # and nothing changed
    link = gql(base, '{ linkedVersion(ref: "zoo/fraud-clf:v1") { stages } }')["linkedVersion"]
    assert link["stages"] == []
    # What the registry holds they may fetch, though the project that made it is not theirs:
    # its files, without an error, and why its runs are not shown.
    page.get_by_role("link", name="fraud/clf:v1").click()
    expect(page.get_by_role("heading", name="fraud/clf:v1")).to_be_visible()
    expect(page.get_by_role("table", name="Files")).to_contain_text("model.pkl")
    expect(page.get_by_text("Its runs are for the members of project fraud").first).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)


def test_deregistering_a_version_that_holds_an_alias_asks_first(
    page: Page, server: tuple[str, int]
) -> None:
    base, _ = server
    seed(base)
    gql(
        base,
        """mutation { setCollectionAlias(input: {link: "zoo/fraud-clf:v0", alias: "champion"})
        { link { id } } }""",
    )
    sign_in(page, path="/registries/zoo/fraud-clf")
    versions = page.get_by_role("region", name="Versions")
    holder = versions.get_by_role("row").filter(has_text="champion")
    holder.get_by_role("button", name="Deregister", exact=True).click()
    refusal = page.get_by_role("alert").first
    expect(refusal).to_contain_text("has dependents")
    expect(refusal).to_contain_text("alias champion")
    held = gql(base, '{ linkedVersion(ref: "zoo/fraud-clf:champion") { index } }')
    assert held["linkedVersion"] == {"index": 0}  # nothing changed yet
    holder.get_by_role("button", name="Deregister anyway").click()
    expect(versions.get_by_role("row").filter(has_text="deregistered")).to_have_count(1)
    gone = gql(base, '{ linkedVersion(ref: "zoo/fraud-clf:champion") { index } }')
    assert gone["linkedVersion"] is None
    # Deprecating the model while a version holds a stage asks once more, naming it.
    gql(
        base,
        """mutation { assignStage(input: {link: "zoo/fraud-clf:v1", stage: "staging"})
        { link { id } } }""",
    )
    actions = page.get_by_role("region", name="Model actions")
    actions.get_by_label("Type fraud-clf to deprecate it").fill("fraud-clf")
    actions.get_by_role("button", name="Deprecate", exact=True).click()
    expect(actions.get_by_role("alert")).to_contain_text("stage staging on v1")
    still = gql(base, '{ collection(registry: "zoo", name: "fraud-clf") { deprecated } }')
    assert still["collection"] == {"deprecated": False}
    actions.get_by_role("button", name="Deprecate anyway").click()
    expect(actions.get_by_role("button", name="Restore fraud-clf")).to_be_visible()


def test_graphiql_runs_a_query_with_the_users_key(page: Page, server: tuple[str, int]) -> None:
    sign_in(page)
    expect(page.get_by_role("heading", name="Registries")).to_be_visible()
    page.goto("/graphql")  # what a browser opening the API's endpoint gets
    expect(page).to_have_url(re.compile("/graphiql$"))
    expect(page.locator(".graphiql-query-editor")).to_contain_text("viewer")  # ready
    page.get_by_role("button", name=re.compile("Execute query", re.IGNORECASE)).click()
    expect(page.locator(".result-window")).to_contain_text('"name": "admin"')
    shot(page, "graphiql")


def test_the_audit_log_lists_changes_and_the_chain_is_intact(
    page: Page, server: tuple[str, int]
) -> None:
    base, _ = server
    seeded = seed(base)
    sign_in(page, path="/audit")
    expect(page.get_by_role("status").first).to_contain_text("Hash chain intact")
    expect(page.get_by_role("list")).to_contain_text("link.created")
    expect(page.get_by_role("list")).to_contain_text("latest: — → zoo/fraud-clf:v0")  # not lnk_…
    page.get_by_label("Actor").fill("nobody-did-this")
    expect(page.get_by_text("No event matches")).to_be_visible()
    assert "actor=nobody-did-this" in page.url
    shot(page, "audit")
    # A registry's member (not an org admin) reads that registry's log, offered when none is
    # chosen; the chain, which spans every registry, is checked by org admins.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, seeded["viewer"], path="/audit")
    expect(page.get_by_text("Only an org admin reads the whole log")).to_be_visible()
    page.get_by_role("link", name="zoo", exact=True).click()
    assert "registry=zoo" in page.url
    expect(page.get_by_role("list").filter(has_text="link.created")).to_contain_text(
        "latest: — → zoo/fraud-clf:v0"
    )
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_text("Hash chain")).to_have_count(0)
