// One job: state, progress and stage, attempts with each attempt's error, its log lines, the
// delivery of its completion webhook, timestamps, trace id, payload and result (readable, with
// the raw JSON one click away).
import { api, ApiError, CANCELLABLE, Poller, TERMINAL } from "./api.js";
import { cancelJob, requeueJob } from "./actions.js";
import { $, el, announce, badge, fill, onJob, progressParts, readable, short, time } from "./dom.js";
import { focusRow, markCurrent } from "./jobs.js";

const detail = { id: null, job: null, resultFor: null };
// The log lines shown, fetched with their ETag each time the job changes.
const logs = { id: null, etag: null, busy: false, again: false };
const poller = new Poller(() => `/jobs/${encodeURIComponent(detail.id)}`, (job) => show(job), {
  isLive: () => detail.job && !TERMINAL.has(detail.job.state),
  onError: (error) => {
    $("#detail-summary").replaceChildren(el("p", { class: "error", role: "alert", text: `Could not load the job: ${error.message}` }));
    return error.status !== 404; // a job that does not exist (or is not yours) stops the polling
  },
});

const seconds = (s) => (s === null || s === undefined ? "the deployment's limit" : `${s} s`);

function show(job) {
  if (job.job_id !== detail.id) return;
  if (!("payload" in job)) {
    // A pushed event is lean (no payload, no error history): keep those from the full job
    // this page fetched, and fetch it again when an attempt ended.
    const known = detail.job?.job_id === job.job_id ? detail.job : null;
    if (!known || known.state !== job.state || known.attempt !== job.attempt) poller.now();
    if (!known) return;
    job = { ...known, ...job };
  }
  if (detail.job && detail.job.state !== job.state) announce(`Job ${short(job.job_id)} ${job.state}.`);
  if (detail.job && detail.job.updated_at > job.updated_at) return; // an older answer than one already shown
  detail.job = job;
  render(job);
  loadLogs(job.job_id);
  if (job.state === "completed" && detail.resultFor !== job.job_id) loadResult(job.job_id);
  if (job.state !== "completed") detail.resultFor = null;
  // A finished job is still polled, slowly (304s back off): it may be requeued.
}

function render(job) {
  $("#detail-title").textContent = `${job.job_type} job ${short(job.job_id)}`;
  const retryAt = job.next_attempt_at && (job.state === "retrying" || job.state === "scheduled")
    ? el("span", {}, job.state === "scheduled" ? " · runs at " : " · next attempt at ", time(job.next_attempt_at)) : null;
  fill($("#detail-summary"),
    badge(job.state, "detail-state"),
    el("span", { class: "progress-line" }, ...progressParts(job, "detail-progress")),
    el("span", { class: "stage", "data-testid": "detail-stage", text: job.stage || "" }),
    el("span", { class: "hint" }, `attempt ${job.attempt} of ${job.max_attempts}`, retryAt),
    job.cancel_requested_at && !TERMINAL.has(job.state) ? el("span", { class: "hint", text: "stopping (cancel requested)" }) : null);

  const dead = job.dead_letter;
  $("#detail-dead-letter").hidden = !dead;
  if (dead) {
    $("#detail-dead-letter").replaceChildren(
      el("strong", { text: `In the dead-letter queue: ${dead.reason}` }), el("p", { text: dead.description }),
      el("p", { class: "hint" }, "Since ", time(dead.at), job.requeues ? ` · requeued ${job.requeues} time(s) before` : ""));
  }

  const fields = [
    ["Job id", el("code", { text: job.job_id })],
    ["Trace id", el("code", { "data-testid": "detail-trace-id", text: job.trace_id })],
    ["Priority", job.priority],
    ["Time limit per attempt", seconds(job.timeout_seconds)],
    ["Created", time(job.created_at)],
    ["Started", time(job.started_at)],
    ["Finished", time(job.finished_at)],
    ["Updated", time(job.updated_at)],
    ["Deliveries of this attempt", String(job.delivery_count)],
  ];
  $("#detail-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));

  const errors = job.errors?.length ? job.errors : job.error ? [job.error] : [];
  $("#detail-errors-box").hidden = !errors.length;
  $("#detail-errors").replaceChildren(...errors.map((e) => el("tr", { "data-testid": "detail-error-row" },
    el("td", { "data-label": "Attempt", text: String(e.attempt) }), el("td", { "data-label": "Error" }, el("code", { text: e.type })),
    el("td", { "data-label": "Message", class: "long", text: e.message }), el("td", { "data-label": "Retryable", text: e.retryable ? "yes" : "no" }),
    el("td", { "data-label": "At" }, time(e.at)))));

  renderWebhook(job);
  $("#detail-payload").replaceChildren(readable(job.payload));
  $("#detail-payload-json").textContent = JSON.stringify(job.payload, null, 2);
  $("#detail-cancel").hidden = !CANCELLABLE.has(job.state) || Boolean(job.cancel_requested_at);
  $("#detail-requeue").hidden = job.state !== "failed";
  if (job.state !== "completed") {
    $("#detail-result").replaceChildren(el("span", { class: "hint", text: TERMINAL.has(job.state) ? `No result: the job ${job.state === "cancelled" ? "was cancelled" : "failed"}.` : "No result yet." }));
    $("#detail-result-raw").hidden = true;
  }
}

/** The job's log lines (GET /jobs/{id}/logs with the ETag held: 304 when none came);
 * one request at a time, repeated once if the job changed meanwhile. */
async function loadLogs(id) {
  if (logs.busy) { logs.again = true; return; }
  if (logs.id !== id) Object.assign(logs, { id, etag: null });
  logs.busy = true;
  try {
    const answer = await api(`/jobs/${encodeURIComponent(id)}/logs`, { etag: logs.etag }).catch((error) => error);
    if (detail.id !== id || logs.id !== id) return;
    if (answer instanceof ApiError) {
      $("#detail-logs-note").textContent = `The log is unavailable: ${answer.message}`;
    } else if (answer.status !== 304) {
      logs.etag = answer.etag;
      showLogs(answer.data.lines);
    }
  } finally {
    logs.busy = false;
    if (logs.again && detail.id) { logs.again = false; loadLogs(detail.id); }
  }
}

const clock = (iso) => {
  const at = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, "0")}`;
};

function showLogs(lines) {
  const list = $("#detail-logs");
  const follow = list.scrollHeight - list.scrollTop - list.clientHeight < 8; // at the bottom: stay there
  // Text only (textContent): a line is whatever a handler logged.
  list.replaceChildren(...lines.map((line) => el("li", { "data-testid": "detail-log-line" },
    el("time", { datetime: line.at, text: clock(line.at) }), " ", el("span", { class: "log-message", text: line.message }))));
  $("#detail-logs-note").textContent = lines.length ? `${lines.length} line(s), oldest first.` : "No log lines yet.";
  if (follow) list.scrollTop = list.scrollHeight;
}

/** The log's region, added after the errors (index.html has none). */
function logsBox() {
  const box = el("section", { id: "detail-logs-box", "aria-labelledby": "detail-logs-title", "data-testid": "detail-logs-box" },
    el("h3", { id: "detail-logs-title", text: "Log" }),
    el("p", { id: "detail-logs-note", class: "hint", text: "Loading…" }),
    el("ol", { id: "detail-logs", class: "log-lines", role: "log", "aria-labelledby": "detail-logs-title", tabindex: "0", "data-testid": "detail-logs" }));
  $("#detail-errors-box").after(box);
}

/** The completion webhook: where the job's end goes, and each attempt at delivering it. */
function renderWebhook(job) {
  const hook = job.webhook;
  $("#detail-webhook-box").hidden = !job.callback_url;
  if (!job.callback_url) return;
  const state = !hook ? "sent when the job ends"
    : hook.state === "delivered" ? "delivered" : hook.state === "gave_up" ? "gave up" : "pending";
  const next = hook?.state === "pending" && hook.next_attempt_at ? el("span", {}, " · next attempt at ", time(hook.next_attempt_at)) : null;
  fill($("#detail-webhook-summary"),
    el("code", { class: "long", text: job.callback_url }),
    el("span", { "data-testid": "detail-webhook-state" }, `${state}${hook ? ` (${hook.event_type}, ${hook.attempts_made} attempt(s))` : ""}`, next));
  $("#detail-webhook-attempts").replaceChildren(...(hook?.attempts ?? []).map((a) => el("tr", { "data-testid": "detail-webhook-attempt" },
    el("td", { "data-label": "Attempt", text: String(a.attempt) }), el("td", { "data-label": "At" }, time(a.at)),
    el("td", { "data-label": "Answer", text: a.status_code ? String(a.status_code) : "none" }),
    el("td", { "data-label": "Error", class: "long", text: a.error || "" }), el("td", { "data-label": "Took", text: `${a.duration_ms} ms` }))));
}

/** The webhook's region, after the log (index.html has none). */
function webhookBox() {
  const head = el("tr", {}, ...["Attempt", "At", "Answer", "Error", "Took"].map((h) => el("th", { scope: "col", text: h })));
  const box = el("section", { id: "detail-webhook-box", "aria-labelledby": "detail-webhook-title", "data-testid": "detail-webhook-box", hidden: "" },
    el("h3", { id: "detail-webhook-title", text: "Completion webhook" }),
    el("p", { id: "detail-webhook-summary", class: "hint" }),
    el("div", { class: "table-wrap" }, el("table", { "data-testid": "detail-webhook-attempts" },
      el("caption", { class: "visually-hidden", text: "Delivery attempts" }),
      el("thead", {}, head), el("tbody", { id: "detail-webhook-attempts" }))));
  $("#detail-logs-box").after(box);
}

async function loadResult(id) {
  detail.resultFor = id;
  const answer = await api(`/jobs/${encodeURIComponent(id)}/result`).catch((error) => error);
  if (detail.id !== id) return;
  if (answer instanceof ApiError) {
    detail.resultFor = null;
    $("#detail-result").replaceChildren(el("span", { class: "error", text: `The result is unavailable: ${answer.message}` }));
    return;
  }
  $("#detail-result").replaceChildren(readable(answer.data.result));
  $("#detail-result-json").textContent = JSON.stringify(answer.data.result, null, 2);
  $("#detail-result-raw").hidden = false;
}

export function openDetail(id) {
  if (detail.id !== id) {
    Object.assign(detail, { id, job: null, resultFor: null });
    $("#detail-title").textContent = `Job ${short(id)}`;
    for (const node of ["#detail-summary", "#detail-fields", "#detail-errors", "#detail-payload", "#detail-logs", "#detail-webhook-attempts"]) $(node).replaceChildren();
    $("#detail-logs-note").textContent = "Loading…";
    Object.assign(logs, { id: null, etag: null });
    $("#detail-result").replaceChildren(el("span", { class: "hint", text: "Loading…" }));
    $("#detail-dead-letter").hidden = $("#detail-errors-box").hidden = $("#detail-webhook-box").hidden = $("#detail-cancel").hidden = $("#detail-requeue").hidden = true;
    $("#detail-result-raw").hidden = true;
    poller.reset();
  }
  $("#detail").hidden = false;
  markCurrent(id);
  poller.start();
  reveal();
}

/** Focus the detail's title (screen readers read it) and bring the detail's top into view
 * when it is off screen: it sits above the list, and a row clicked far down is far below it. */
function reveal() {
  $("#detail-title").focus({ preventScroll: true });
  const { top } = $("#detail").getBoundingClientRect();
  if (top < 0 || top > window.innerHeight - 64) $("#detail").scrollIntoView({ block: "start" });
}

export function closeDetail({ focus = true } = {}) {
  if (!detail.id) return;
  const id = detail.id;
  poller.stop();
  Object.assign(detail, { id: null, job: null });
  $("#detail").hidden = true;
  markCurrent(null);
  if (focus) focusRow(id);
}

export function startDetail() {
  logsBox();
  webhookBox();
  $("#detail-cancel").addEventListener("click", async () => {
    const job = await cancelJob(detail.id);
    if (job) { $("#detail-title").focus(); poller.now(); }
  });
  $("#detail-requeue").addEventListener("click", async () => {
    const job = await requeueJob(detail.id);
    if (job) { $("#detail-title").focus(); poller.start(); }
  });
  $("#detail").addEventListener("keydown", (e) => { if (e.key === "Escape") location.hash = "#/jobs"; });
  onJob((job) => { if (job.job_id === detail.id) show(job); });
  document.addEventListener("dtq:purged", (e) => { if (e.detail.includes(detail.id)) location.hash = "#/jobs"; });
}
