"""The console in headless Chromium against the local stack, as a person
uses it: sign in, connect TikTok accounts through the sandbox's consent
page, upload the sample MP4 (progress to 100%) and publish it until TikTok
says published, schedule a post, refresh and disconnect, see an account that
needs reconnecting flagged, and read the analytics charts. Screenshots of
the main screens go to .local/e2e/."""

import subprocess
import time
from datetime import datetime, timedelta

from playwright.sync_api import expect

from conftest import API, ARTIFACTS, CONSOLE, ROOT, SANDBOX, call, sandbox, token

SAMPLE = ROOT / "tests" / "fixtures" / "sample.mp4"
SAMPLE_WEBM = ROOT / "tests" / "fixtures" / "sample.webm"  # 2 s
PUBLISH_SECONDS = 120


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, user):
    page.goto(CONSOLE)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "01-sign-in")
    page.get_by_role("button", name="Sign in").click()
    # The local issuer's page: any user name.
    page.get_by_label("User name").fill(user)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("user")).to_have_text(user)
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()


def connect(page, open_id):
    page.get_by_role("button", name="Connect a TikTok account").click()
    # TikTok's consent page (the sandbox's): pick the TikTok user, authorize.
    page.get_by_label("TikTok user").fill(open_id)
    page.get_by_role("button", name="Authorize").click()
    expect(page.locator("#notice")).to_contain_text(f"({open_id}).", timeout=30_000)
    row = page.locator(f"tr[data-account='{open_id}']")
    expect(row.locator(".badge")).to_have_text("Active")
    return row


def test_a_person_runs_their_accounts_from_the_browser(page):
    stamp = str(int(time.time()))
    user = f"e2e-{stamp}"
    first, second = f"tt-e2e-{stamp}-1", f"tt-e2e-{stamp}-2"

    sign_in(page, user)
    expect(page.locator("#accounts-empty")).to_be_visible()
    connect(page, first)
    connect(page, second)
    expect(page.locator("#accounts-table tbody tr")).to_have_count(2)
    shot(page, "02-accounts")

    # Refresh now: new tokens, and the console says when they expire.
    page.locator(f"tr[data-account='{first}']").get_by_role("button", name="Refresh now").click()
    expect(page.locator("#notice")).to_contain_text("refreshed", timeout=30_000)

    # Upload the sample to the presigned URL and publish it now, to one account.
    page.get_by_role("link", name="Publish").click()
    page.get_by_label("Video (MP4, MOV or WebM)").set_input_files(str(SAMPLE))
    page.get_by_label("Caption").fill("Sample from the browser #e2e")
    page.get_by_role("checkbox", name=first).check()
    # TikTok's posting rules: the creator's nickname, the app's audit, who
    # can watch from the creator's options with none chosen, interactions
    # off, the disclosure's labels and the declaration.
    expect(page.locator(f"#creators li[data-account='{first}']")).to_contain_text(f"Posting as Sandbox {first}")
    expect(page.locator("#audit-note")).to_contain_text("not audited")
    expect(page.locator("#privacy option")).to_have_text(["Choose…", "Only me"])  # unaudited: private only
    expect(page.locator("#privacy")).to_have_value("")
    for name in ["Comment", "Duet", "Stitch"]:
        expect(page.get_by_role("checkbox", name=name, exact=True)).not_to_be_checked()
    expect(page.get_by_test_id("declaration")).to_have_text("By posting, you agree to TikTok's Music Usage Confirmation.")
    expect(page.get_by_text("After TikTok receives a video, processing can take a few minutes.")).to_be_visible()
    page.get_by_label("Disclose video content").check()
    expect(page.get_by_test_id("disclose-label")).to_contain_text("indicate if your content promotes")
    page.get_by_label("Your brand").check()
    expect(page.get_by_test_id("disclose-label")).to_have_text("Your video will be labeled as 'Promotional content'.")
    page.get_by_label("Branded content").check()
    expect(page.get_by_test_id("disclose-label")).to_have_text("Your video will be labeled as 'Paid partnership'.")
    expect(page.get_by_test_id("declaration")).to_contain_text("Branded Content Policy and Music Usage Confirmation")
    expect(page.locator("#privacy option[value='SELF_ONLY']")).to_be_disabled()  # branded content is never private
    page.get_by_label("Disclose video content").uncheck()
    expect(page.locator("#privacy option[value='SELF_ONLY']")).to_be_enabled()
    page.get_by_role("button", name="Upload and publish").click()
    expect(page.locator("#notice")).to_contain_text("Choose who can watch")  # no privacy preselected
    page.get_by_label("Who can watch").select_option("SELF_ONLY")
    page.get_by_role("button", name="Upload and publish").click()
    expect(page.get_by_test_id("upload-percent")).to_have_text("100%", timeout=30_000)
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")
    post = page.locator("#publish-status article.post")
    expect(post.locator(f"li[data-account='{first}']")).to_have_attribute(
        "data-status", "published", timeout=PUBLISH_SECONDS * 1000
    )
    expect(post).to_have_attribute("data-status", "published")
    # What TikTok received: the interactions off, as the form left them.
    _, _, publishes = call("GET", f"{SANDBOX}/sandbox/publishes")
    sent = [p for p in publishes if p["open_id"] == first]
    assert sent and all(p["post_info"]["disable_duet"] is True for p in sent), sent
    shot(page, "03-published")

    # Schedule one video to both accounts, ten minutes ahead.
    page.reload()
    page.get_by_label("Video (MP4, MOV or WebM)").set_input_files(str(SAMPLE))
    page.get_by_label("Caption").fill("Scheduled from the browser")
    page.get_by_role("checkbox", name=first).check()
    page.get_by_role("checkbox", name=second).check()
    page.get_by_label("Who can watch").select_option("SELF_ONLY")
    page.get_by_label("Schedule").check()
    at = (datetime.now() + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Publish at (your local time)").fill(at)
    page.get_by_role("button", name="Upload and publish").click()
    expect(page.locator("#notice")).to_contain_text("Scheduled for", timeout=30_000)
    scheduled = page.locator("#publish-status article.post")
    expect(scheduled).to_have_attribute("data-status", "scheduled")
    expect(scheduled.locator("li[data-status='scheduled']")).to_have_count(2)
    page.get_by_role("link", name="Posts").click()
    expect(page.locator("#posts-list article.post")).to_have_count(2)
    expect(page.locator("#posts-list article[data-status='scheduled']")).to_have_count(1)
    shot(page, "04-posts")

    # A creator who turned duets off in TikTok: the Duet toggle is greyed
    # out. A video longer than the creator may post: the console says so,
    # with the length read from the file, and uploads nothing.
    fourth = f"tt-e2e-{stamp}-4"
    page.get_by_role("link", name="Accounts").click()
    connect(page, fourth)
    sandbox("/sandbox/interactions", {"open_id": fourth, "duet": True})
    sandbox("/sandbox/max-duration", {"open_id": fourth, "seconds": 1})
    bearer = {"authorization": f"Bearer {token(user)}"}
    _, _, before = call("GET", f"{API}/posts", headers=bearer)
    page.get_by_role("link", name="Publish").click()
    page.get_by_label("Video (MP4, MOV or WebM)").set_input_files(str(SAMPLE_WEBM))
    page.get_by_role("checkbox", name=fourth).check()
    expect(page.locator(f"#creators li[data-account='{fourth}']")).to_contain_text("videos up to 1 s")
    expect(page.get_by_role("checkbox", name="Duet", exact=True)).to_be_disabled()
    expect(page.get_by_role("checkbox", name="Duet", exact=True)).not_to_be_checked()
    expect(page.get_by_role("checkbox", name="Comment", exact=True)).to_be_enabled()
    expect(page.get_by_test_id("video-length")).to_contain_text("s long: longer than these creators can post (1 s).")
    page.get_by_label("Who can watch").select_option("SELF_ONLY")
    page.get_by_role("button", name="Upload and publish").click()
    expect(page.locator("#notice")).to_contain_text("the longest these creators can post is 1 s")
    expect(page.get_by_label("Video (MP4, MOV or WebM)")).to_have_attribute("aria-invalid", "true")
    _, _, after = call("GET", f"{API}/posts", headers=bearer)
    assert len(after["posts"]) == len(before["posts"]), after
    shot(page, "04a-too-long")

    # TikTok stops a creator from posting today: the console says so and posts nothing.
    third = f"tt-e2e-{stamp}-3"
    page.get_by_role("link", name="Accounts").click()
    connect(page, third)
    sandbox("/sandbox/posting-block", {"open_id": third, "code": "spam_risk_too_many_posts"})
    page.get_by_role("link", name="Publish").click()
    page.get_by_role("checkbox", name=third).check()
    expect(page.locator(f"#creators li[data-account='{third}']")).to_contain_text("cannot post now")
    expect(page.get_by_role("button", name="Upload and publish")).to_be_disabled()
    shot(page, "04b-cannot-post")

    # TikTok ends the second account's grant and its webhook is lost: the
    # next refresh meets invalid_grant, and the console says the account
    # needs reconnecting, and why.
    sandbox("/sandbox/webhooks/enabled", {"enabled": False})
    try:
        sandbox("/sandbox/authorization-removed", {"open_id": second, "reason": 1})
    finally:
        sandbox("/sandbox/webhooks/enabled", {"enabled": True})
    page.get_by_role("link", name="Accounts").click()
    row = page.locator(f"tr[data-account='{second}']")
    row.get_by_role("button", name="Refresh now").click()
    expect(row.locator(".badge")).to_have_text("Needs reconnect", timeout=30_000)
    expect(row.locator(".reason")).to_contain_text("invalid_grant")
    expect(row.locator(".reason")).not_to_be_empty()
    expect(row.get_by_role("button", name="Reconnect")).to_be_visible()
    shot(page, "05-needs-reconnect")

    # Today's analytics snapshot, as the daily schedule takes it; then the charts.
    subprocess.run(
        [str(ROOT / ".venv/bin/cargo-lambda"), "lambda", "invoke", "analytics-snapshot",
         "--data-file", "infra/events/analytics-snapshot-scheduled.json"],
        cwd=ROOT, check=True, capture_output=True,
    )
    for _ in range(60):
        status, _, stats = call("GET", f"{API}/accounts/{first}/stats", headers=bearer)
        if status == 200 and stats["points"]:
            break
        time.sleep(1)
    assert stats["points"], stats
    page.get_by_role("link", name="Analytics").click()
    expect(page.locator(f"#summary-table tr[data-account='{first}']")).to_be_visible()
    expect(page.locator("#account-analytics figure.chart svg")).to_have_count(2)
    expect(page.locator("#account-analytics figure.chart").first).to_contain_text("Followers")
    shot(page, "06-analytics")

    # Disconnect: confirmed, tokens revoked, the row says so.
    page.get_by_role("link", name="Accounts").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr[data-account='{first}']").get_by_role("button", name="Disconnect").click()
    expect(page.locator(f"tr[data-account='{first}'] .badge")).to_have_text("Disconnected", timeout=30_000)


def test_a_narrow_screen_still_shows_every_account(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, f"e2e-phone-{int(time.time())}")
    expect(page.get_by_role("button", name="Connect a TikTok account")).to_be_visible()
    shot(page, "07-phone")
    context.close()
