// The console: sign in, connect TikTok accounts and watch their health,
// upload and publish or schedule videos, and follow each account's growth.
// Settings come from config.json beside this file (written by
// infra/deploy/console.sh from the stack's outputs, or served by the local
// stack): {apiUrl, issuer, clientId, scope, authorizationEndpoint?, tokenEndpoint?}.

import { finishSignIn, session, signIn, signOut } from "./auth.js";
import { client, putFile } from "./api.js";
import { lineChart } from "./charts.js";

const TICKET = "console.ticket";
const VIEWS = ["accounts", "publish", "posts", "analytics"];
const SETTLED = new Set(["published", "partially_failed", "failed", "cancelled"]);
const CONTENT_TYPES = { mp4: "video/mp4", m4v: "video/mp4", mov: "video/quicktime", qt: "video/quicktime", webm: "video/webm" };

const CONNECT_ERRORS = {
  invalid_state: "This connect link was already used or did not start here. Start the connect again.",
  state_expired: "The connect took too long. Start it again.",
  access_denied: "TikTok's consent was declined: nothing was connected.",
  authorization_failed: "TikTok could not authorize the app. Try again later.",
  invalid_request: "TikTok refused the request. Start the connect again.",
  temporarily_unavailable: "TikTok is unavailable for now. Try again in a few minutes.",
};

const STATUS_TEXT = {
  active: "Active",
  reauth_required: "Needs reconnect",
  disconnected: "Disconnected",
  awaiting_upload: "Awaiting upload",
  scheduled: "Scheduled",
  waiting: "Waiting",
  publishing: "Publishing",
  processing: "Processing at TikTok",
  published: "Published",
  partially_failed: "Partly failed",
  failed: "Failed",
  cancelled: "Cancelled",
};

let config;
let api;
let accounts = [];
let timer = null;

const $ = (selector) => document.querySelector(selector);

/** Builds an element; strings become text, never HTML. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function notify(text, kind = "info") {
  const box = $("#notice");
  box.replaceChildren(text ? h("p", { class: `notice ${kind}` }, text) : "");
}

function when(value) {
  if (!value) return "never";
  const date = new Date(value);
  const minutes = Math.round((date - Date.now()) / 60000);
  const abs = Math.abs(minutes);
  const span = abs < 60 ? `${abs} min` : abs < 48 * 60 ? `${Math.floor(abs / 60)} h ${abs % 60} min` : `${Math.round(abs / 1440)} days`;
  const relative = minutes === 0 ? "now" : minutes > 0 ? `in ${span}` : `${span} ago`;
  return `${date.toLocaleString()} (${relative})`;
}

function badge(status) {
  return h("span", { class: `badge ${status}`, "data-status": status }, STATUS_TEXT[status] || status);
}

function stopPolling() {
  if (timer) clearTimeout(timer);
  timer = null;
}

async function run(button, action) {
  if (button) button.disabled = true;
  try {
    await action();
  } catch (error) {
    notify(error.message, "error");
  } finally {
    if (button) button.disabled = false;
  }
}

// ------------------------------------------------------------------ views

function show(view) {
  stopPolling();
  for (const name of ["signin", ...VIEWS]) $(`#view-${name}`).hidden = name !== view;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (view !== "signin") document.title = `${view[0].toUpperCase()}${view.slice(1)} · TikTok accounts`;
}

async function route() {
  const view = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : "accounts";
  show(view);
  await run(null, () => ({ accounts: showAccounts, publish: showPublish, posts: showPosts, analytics: showAnalytics })[view]());
}

// ------------------------------------------------------------------ accounts

async function loadAccounts() {
  accounts = (await api("GET", "/accounts")).accounts;
  return accounts;
}

function accountName(id) {
  const account = accounts.find((a) => a.account_id === id);
  return account ? `${account.display_name} (${id})` : id;
}

async function showAccounts() {
  await loadAccounts();
  const body = $("#accounts-table tbody");
  $("#accounts-empty").hidden = accounts.length > 0;
  $("#accounts-table").hidden = accounts.length === 0;
  body.replaceChildren(
    ...accounts.map((a) => {
      const actions = h("td", { class: "actions" });
      if (a.status === "active") {
        actions.append(h("button", { type: "button", onclick: (e) => refreshAccount(e.target, a) }, "Refresh now"));
      }
      if (a.status !== "active") {
        actions.append(h("button", { type: "button", class: "primary", onclick: (e) => run(e.target, connect) }, "Reconnect"));
      }
      if (a.status !== "disconnected") {
        actions.append(h("button", { type: "button", class: "danger", onclick: (e) => disconnect(e.target, a) }, "Disconnect"));
      }
      return h(
        "tr",
        { "data-account": a.account_id },
        h(
          "th",
          { scope: "row" },
          a.avatar_url
            ? h("img", { src: a.avatar_url, alt: "", class: "avatar", width: 32, height: 32, onerror: (e) => e.target.remove() })
            : null,
          h("span", { class: "name" }, a.display_name || a.account_id),
          h("small", {}, a.account_id),
        ),
        h("td", { class: "health" }, badge(a.status), a.last_error ? h("small", { class: "reason" }, a.last_error) : null),
        h("td", {}, a.status === "active" ? when(a.access_expires_at) : "—"),
        h("td", {}, when(a.last_refreshed_at)),
        actions,
      );
    }),
  );
}

async function connect() {
  notify("Opening TikTok…");
  const { authorize_url } = await api("GET", "/oauth/tiktok/start");
  location.assign(authorize_url);
}

async function refreshAccount(button, account) {
  await run(button, async () => {
    notify(`Refreshing ${account.display_name}…`);
    try {
      const fresh = await api("POST", `/accounts/${encodeURIComponent(account.account_id)}/refresh`);
      notify(`${fresh.display_name}'s tokens were refreshed; the access token now expires ${when(fresh.access_expires_at)}.`, "ok");
    } finally {
      // A refresh TikTok refused may have flagged the account: show it as it is now.
      await showAccounts();
    }
  });
}

async function disconnect(button, account) {
  if (!confirm(`Disconnect ${account.display_name}? Its tokens are revoked at TikTok and erased here.`)) return;
  await run(button, async () => {
    await api("DELETE", `/accounts/${encodeURIComponent(account.account_id)}`);
    notify(`${account.display_name} was disconnected.`, "ok");
    await showAccounts();
  });
}

/** The browser's return from TikTok: ?status=pending&ticket=… or ?status=error&reason=…. */
async function finishConnect() {
  const url = new URL(location.href);
  const status = url.searchParams.get("status");
  const ticket = url.searchParams.get("ticket") || sessionStorage.getItem(TICKET);
  const reason = url.searchParams.get("reason");
  if (url.searchParams.has("status")) {
    for (const name of ["status", "ticket", "reason"]) url.searchParams.delete(name);
    url.hash = "#accounts";
    history.replaceState(null, "", url);
  }
  sessionStorage.removeItem(TICKET);
  if (status === "error") {
    notify(CONNECT_ERRORS[reason] || `The connect failed (${reason}).`, "error");
    return;
  }
  if (!ticket) return;
  notify("Finishing the connect…");
  try {
    const account = await api("POST", "/oauth/tiktok/complete", { ticket });
    notify(`Connected ${account.display_name} (${account.account_id}).`, "ok");
  } catch (error) {
    const text =
      error.code === "connect_not_found"
        ? "This connect could not be finished: it expired, was already used, or was started by someone else. Start it again."
        : error.message;
    notify(text, "error");
  }
}

// ------------------------------------------------------------------ publish
//
// TikTok's posting rules, as its audit checks them: the creator's nickname
// shown; who can watch chosen from the creator's own options, none
// preselected; comment, duet and stitch off by default and greyed out where
// the creator turned them off; the commercial content disclosure with its
// labels; the Music Usage Confirmation; no post while TikTok says the
// creator cannot post, nor a video longer than the creator may post.

const PRIVACY_TEXT = {
  PUBLIC_TO_EVERYONE: "Everyone",
  MUTUAL_FOLLOW_FRIENDS: "Friends",
  FOLLOWER_OF_CREATOR: "Followers",
  SELF_ONLY: "Only me",
};
const BRANDED_PRIVATE = "Branded content visibility cannot be set to private.";
const DISCLOSE_NEEDED = "You need to indicate if your content promotes yourself, a third party, or both.";
const MUSIC = "https://www.tiktok.com/legal/page/global/music-usage-confirmation/en";
const BRANDED_POLICY = "https://www.tiktok.com/legal/page/global/bc-policy/en";

/** What the selected creators allow together. */
let posting = { creators: [], options: [], canPost: true, maxSeconds: null, disabled: {} };
let videoSeconds = null;

async function showPublish() {
  await loadAccounts();
  const usable = accounts.filter((a) => a.status === "active");
  $("#targets-empty").hidden = usable.length > 0;
  $("#target-list").replaceChildren(
    ...usable.map((a) =>
      h(
        "label",
        { class: "inline" },
        h("input", { type: "checkbox", name: "account", value: a.account_id, onchange: () => run(null, loadCreators) }),
        ` ${a.display_name} `,
        h("small", {}, a.account_id),
      ),
    ),
  );
  await loadCreators();
}

/** Asks each selected account's creator info and applies what they allow together. */
async function loadCreators() {
  const ids = [...document.querySelectorAll("input[name=account]:checked")].map((c) => c.value);
  const creators = await Promise.all(
    ids.map((id) => api("GET", `/accounts/${encodeURIComponent(id)}/creator-info`)),
  );
  const all = Object.keys(PRIVACY_TEXT);
  posting = {
    creators,
    options: all.filter((o) => creators.every((c) => c.privacy_level_options.includes(o))),
    canPost: creators.every((c) => c.can_post),
    maxSeconds: creators.reduce((m, c) => (c.max_video_post_duration_sec ? Math.min(m ?? Infinity, c.max_video_post_duration_sec) : m), null),
    disabled: {
      comment: creators.some((c) => c.comment_disabled),
      duet: creators.some((c) => c.duet_disabled),
      stitch: creators.some((c) => c.stitch_disabled),
    },
  };
  $("#creators").replaceChildren(
    ...creators.map((c) =>
      c.can_post
        ? h("li", { "data-account": c.account_id }, "Posting as ", h("strong", {}, c.nickname || c.account_id),
            c.username ? ` (@${c.username})` : "",
            c.max_video_post_duration_sec ? ` · videos up to ${span(c.max_video_post_duration_sec)}` : "")
        : h("li", { "data-account": c.account_id, class: "cannot" },
            h("strong", {}, c.nickname || c.account_id), ` cannot post now: ${c.reason}`),
    ),
  );
  const note = creators.find((c) => c.note);
  $("#audit-note").hidden = !note;
  $("#audit-note").textContent = note ? note.note : "";
  for (const [name, off] of Object.entries(posting.disabled)) {
    const box = $(`#allow-${name}`);
    box.disabled = off;
    if (off) box.checked = false;
    box.title = off ? "Turned off in the creator's TikTok settings" : "";
  }
  renderPrivacy();
  renderLength();
  $("#publish-submit").disabled = !posting.canPost;
}

/** The creators' common options, none chosen unless the person chose it; branded content is never private. */
function renderPrivacy() {
  const select = $("#privacy");
  const chosen = select.value;
  const branded = $("#disclose").checked && $("#brand-content").checked;
  select.replaceChildren(
    h("option", { value: "" }, "Choose…"),
    ...posting.options.map((o) =>
      h("option", { value: o, disabled: branded && o === "SELF_ONLY", title: branded && o === "SELF_ONLY" ? BRANDED_PRIVATE : null },
        PRIVACY_TEXT[o]),
    ),
  );
  select.value = posting.options.includes(chosen) && !(branded && chosen === "SELF_ONLY") ? chosen : "";
}

/** The disclosure's label and the declaration the person agrees to by posting. */
function renderDisclosure() {
  const on = $("#disclose").checked;
  $("#disclose-options").hidden = !on;
  const organic = on && $("#brand-organic").checked;
  const branded = on && $("#brand-content").checked;
  $("#disclose-label").textContent = branded
    ? "Your video will be labeled as 'Paid partnership'."
    : organic
      ? "Your video will be labeled as 'Promotional content'."
      : on
        ? DISCLOSE_NEEDED
        : "";
  $("#declaration").replaceChildren(
    "By posting, you agree to TikTok's ",
    ...(branded ? [h("a", { href: BRANDED_POLICY, target: "_blank", rel: "noopener" }, "Branded Content Policy"), " and "] : []),
    h("a", { href: MUSIC, target: "_blank", rel: "noopener" }, "Music Usage Confirmation"),
    ".",
  );
  renderPrivacy();
}

/** A length in seconds as people say it: "45 s", "3 min", "2 min 30 s". */
function span(seconds) {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ""}`;
}

/** Whether the chosen video runs longer than the selected creators may post. */
function tooLong() {
  return Boolean(posting.maxSeconds && videoSeconds && videoSeconds > posting.maxSeconds);
}

/** Says how long the chosen video is, and whether the selected creators may post it. */
function renderLength() {
  const hint = $("#video-length");
  const file = $("#video").files[0];
  if (!file) return hint.replaceChildren();
  if (videoSeconds === null) return hint.replaceChildren("Length not known yet: it is checked again before TikTok gets the video.");
  hint.replaceChildren(`${span(videoSeconds)} long`, tooLong() ? `: longer than these creators can post (${span(posting.maxSeconds)}).` : ".");
  hint.classList.toggle("error", tooLong());
}

/** The chosen video's length, read from its metadata in the browser (null when it does not say). */
function readDuration(file) {
  videoSeconds = null;
  renderLength();
  if (!file) return;
  const video = document.createElement("video");
  video.preload = "metadata";
  video.addEventListener("loadedmetadata", () => {
    videoSeconds = Number.isFinite(video.duration) ? video.duration : null;
    URL.revokeObjectURL(video.src);
    renderLength();
  });
  video.addEventListener("error", () => URL.revokeObjectURL(video.src));
  video.src = URL.createObjectURL(file);
}

function fieldError(input, message) {
  input.setAttribute("aria-invalid", "true");
  notify(message, "error");
  input.focus();
}

async function publish(event) {
  event.preventDefault();
  const form = event.target;
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const file = $("#video").files[0];
  const targets = [...form.querySelectorAll("input[name=account]:checked")].map((c) => c.value);
  const privacy = $("#privacy").value;
  const later = form.querySelector("input[name=when]:checked").value === "later";
  if (!file) return fieldError($("#video"), "Choose a video.");
  if (targets.length === 0) return fieldError($("#target-list input") || $("#video"), "Choose at least one account.");
  const stopped = posting.creators.find((c) => !c.can_post);
  if (stopped) return fieldError($("#target-list input"), `${stopped.nickname || stopped.account_id} cannot post now: ${stopped.reason}`);
  if (tooLong()) {
    return fieldError($("#video"), `This video is ${span(videoSeconds)} long; the longest these creators can post is ${span(posting.maxSeconds)}.`);
  }
  const disclose = $("#disclose").checked;
  const brandOrganic = disclose && $("#brand-organic").checked;
  const brandContent = disclose && $("#brand-content").checked;
  if (disclose && !brandOrganic && !brandContent) return fieldError($("#disclose"), DISCLOSE_NEEDED);
  if (!privacy) return fieldError($("#privacy"), "Choose who can watch the video.");
  if (brandContent && privacy === "SELF_ONLY") return fieldError($("#privacy"), BRANDED_PRIVATE);
  let publishAt;
  if (later) {
    const at = new Date($("#publish-at").value);
    if (Number.isNaN(at.getTime()) || at <= new Date()) return fieldError($("#publish-at"), "Choose a time in the future.");
    publishAt = at.toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  const extension = file.name.split(".").pop().toLowerCase();
  const contentType = CONTENT_TYPES[extension] || file.type;
  const submit = $("#publish-submit");
  await run(submit, async () => {
    notify("Uploading…");
    const upload = await api("POST", "/uploads", { file_name: file.name, content_type: contentType, size_bytes: file.size });
    $("#progress-box").hidden = false;
    await putFile(upload, file, (percent) => {
      $("#upload-progress").value = percent;
      $("#upload-percent").textContent = `${percent}%`;
    });
    const request = {
      upload_id: upload.upload_id,
      mode: "direct",
      post: {
        title: $("#title").value,
        privacy_level: privacy,
        disable_comment: !$("#allow-comment").checked,
        disable_duet: !$("#allow-duet").checked,
        disable_stitch: !$("#allow-stitch").checked,
        brand_organic_toggle: brandOrganic,
        brand_content_toggle: brandContent,
        is_aigc: $("#aigc").checked,
      },
      targets: targets.map((account_id) => ({ account_id })),
    };
    if (publishAt) request.publish_at = publishAt;
    const post = await api("POST", "/posts", request);
    notify(publishAt ? `Scheduled for ${when(post.publish_at)}.` : "Uploaded. Publishing…", "ok");
    followPost(post, $("#publish-status"));
  });
}

function renderPost(post) {
  const cancel =
    post.status === "scheduled"
      ? h("button", { type: "button", class: "danger", onclick: (e) => cancelPost(e.target, post) }, "Cancel")
      : null;
  return h(
    "article",
    { class: "post", "data-post": post.post_id, "data-status": post.status },
    h(
      "header",
      {},
      h("h2", {}, post.post.title || "Untitled video"),
      badge(post.status),
      cancel,
    ),
    h("p", { class: "hint" }, `${post.status === "scheduled" ? "Publishes" : "Publish time"}: ${when(post.publish_at)}`),
    h(
      "ul",
      { class: "targets" },
      post.targets.map((t) =>
        h(
          "li",
          { "data-account": t.account_id, "data-status": t.status },
          h("span", { class: "name" }, accountName(t.account_id)),
          badge(t.status),
          t.error ? h("small", { class: "reason" }, t.error) : null,
          t.retry_at ? h("small", {}, `retries ${when(t.retry_at)}`) : null,
        ),
      ),
    ),
  );
}

/** Shows a post in `box` and follows it until every target settles (or it waits for its time). */
function followPost(post, box) {
  stopPolling();
  box.replaceChildren(renderPost(post));
  const waitingForTime = post.status === "scheduled" && new Date(post.publish_at) - Date.now() > 60_000;
  if (SETTLED.has(post.status) || waitingForTime) return;
  timer = setTimeout(async () => {
    try {
      followPost(await api("GET", `/posts/${post.post_id}`), box);
    } catch (error) {
      notify(error.message, "error");
    }
  }, 2000);
}

async function cancelPost(button, post) {
  if (!confirm("Cancel this post? Targets that have not started will not be published.")) return;
  await run(button, async () => {
    await api("DELETE", `/posts/${post.post_id}`);
    notify("The post was cancelled.", "ok");
    await showPosts();
  });
}

// ------------------------------------------------------------------ posts

async function showPosts() {
  if (accounts.length === 0) await loadAccounts();
  const { posts } = await api("GET", "/posts?limit=20");
  $("#posts-empty").hidden = posts.length > 0;
  $("#posts-list").replaceChildren(...posts.map(renderPost));
  if (posts.some((p) => !SETTLED.has(p.status) && p.status !== "scheduled")) {
    timer = setTimeout(() => run(null, showPosts), 3000);
  }
}

// ------------------------------------------------------------------ analytics

async function showAnalytics() {
  if (accounts.length === 0) await loadAccounts();
  const summary = (await api("GET", "/analytics/summary")).accounts;
  $("#summary-empty").hidden = summary.length > 0;
  const signed = (n) => (n > 0 ? `+${n}` : String(n));
  $("#summary-table tbody").replaceChildren(
    ...summary.map((row) =>
      h(
        "tr",
        { "data-account": row.account_id },
        h("th", { scope: "row" }, h("button", { type: "button", class: "link", onclick: () => run(null, () => showAccountAnalytics(row)) }, row.display_name || row.account_id)),
        h("td", {}, row.followers ?? "—"),
        h("td", {}, signed(row.followers_change)),
        h("td", {}, signed(row.likes_change)),
        h("td", {}, signed(row.videos_change)),
        h("td", {}, row.top_video ? `${row.top_video.title || row.top_video.video_id} (+${row.top_video.views} views)` : "—"),
      ),
    ),
  );
  if (summary.length > 0) await showAccountAnalytics(summary[0]);
}

async function showAccountAnalytics(row) {
  const id = encodeURIComponent(row.account_id);
  const [stats, videos] = await Promise.all([api("GET", `/accounts/${id}/stats`), api("GET", `/accounts/${id}/videos?limit=20`)]);
  const series = (name, field) => ({ name, points: stats.points.map((p) => ({ date: p.date, value: p[field] })) });
  const box = $("#account-analytics");
  const videoChart = h("div", { id: "video-chart" });
  box.replaceChildren(
    h("h2", {}, `${row.display_name || row.account_id}: growth`),
    h("div", { class: "charts" }, lineChart("Followers", [series("Followers", "followers")]), lineChart("Likes", [series("Likes", "likes")])),
    h("h2", {}, "Videos"),
    videos.videos.length === 0
      ? h("p", { class: "empty" }, "No video yet.")
      : h(
          "div",
          { class: "scroll" },
          h(
            "table",
            { id: "videos-table" },
            h("caption", { class: "visually-hidden" }, "Videos and their latest counts"),
            h("thead", {}, h("tr", {}, ["Video", "Posted", "Views", "Likes", "Comments", "Shares"].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              videos.videos.map((v) =>
                h(
                  "tr",
                  { "data-video": v.video_id },
                  h("th", { scope: "row" }, h("button", { type: "button", class: "link", onclick: () => run(null, () => showVideo(row.account_id, v, videoChart)) }, v.title || v.video_id)),
                  h("td", {}, new Date(v.created_at).toLocaleDateString()),
                  h("td", {}, v.views),
                  h("td", {}, v.likes),
                  h("td", {}, v.comments),
                  h("td", {}, v.shares),
                ),
              ),
            ),
          ),
        ),
    videoChart,
  );
  if (videos.videos.length > 0) await showVideo(row.account_id, videos.videos[0], videoChart);
}

async function showVideo(accountId, video, box) {
  const stats = await api("GET", `/accounts/${encodeURIComponent(accountId)}/videos/${encodeURIComponent(video.video_id)}/stats`);
  const series = (name, field) => ({ name, points: stats.points.map((p) => ({ date: p.date, value: p[field] })) });
  box.replaceChildren(lineChart(`${video.title || video.video_id}: views and likes`, [series("Views", "views"), series("Likes", "likes")]));
}

// ------------------------------------------------------------------ start

function signedOut() {
  signOut();
  stopPolling();
  $("#nav").hidden = true;
  $("#sign-out").hidden = true;
  $("#user").textContent = "";
  show("signin");
}

async function start() {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error("config.json is missing: the console cannot find its API.");
  config = await response.json();
  $("#sign-in").addEventListener("click", (e) => run(e.target, () => signIn(config)));
  $("#sign-out").addEventListener("click", () => {
    signedOut();
    notify("Signed out.");
  });
  $("#connect").addEventListener("click", (e) => run(e.target, connect));
  $("#posts-reload").addEventListener("click", (e) => run(e.target, showPosts));
  $("#publish-form").addEventListener("submit", publish);
  $("#video").addEventListener("change", (e) => readDuration(e.target.files[0]));
  for (const id of ["#disclose", "#brand-organic", "#brand-content"]) $(id).addEventListener("change", renderDisclosure);
  renderDisclosure();
  for (const radio of document.querySelectorAll("input[name=when]")) {
    radio.addEventListener("change", () => {
      $("#schedule").hidden = document.querySelector("input[name=when]:checked").value !== "later";
    });
  }
  const back = await finishSignIn(config).catch((error) => {
    notify(error.message, "error");
    return null;
  });
  const current = session();
  if (!current) {
    // A connect that came back after the sign-in lapsed is finished after signing in again.
    const ticket = new URLSearchParams(location.search).get("ticket");
    if (ticket) sessionStorage.setItem(TICKET, ticket);
    signedOut();
    return;
  }
  if (back) history.replaceState(null, "", back);
  api = client(config.apiUrl, current.token, () => {
    signedOut();
    notify("Your sign-in has expired. Sign in again.", "error");
  });
  $("#user").textContent = current.user;
  $("#nav").hidden = false;
  $("#sign-out").hidden = false;
  await finishConnect();
  window.addEventListener("hashchange", () => {
    notify("");
    route();
  });
  await route();
}

start().catch((error) => notify(error.message, "error"));
