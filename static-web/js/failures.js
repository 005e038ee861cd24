// The dead-letter queue: failed jobs with reason and last error; requeue or purge one,
// or every job matching the filter (after a confirmation). Also the queue's own
// dead-lettered messages, read-only.
import { api, Poller } from "./api.js";
import { purgeJob, requeueJob } from "./actions.js";
import { $, el, announce, confirmAction, jobLink, onJob, short, time } from "./dom.js";

const PAGE = 50;
const dlq = { jobs: [], nextCursor: null, messages: [] };
const jobType = () => $("#dlq-type").value;
const query = (extra = {}) => `/dlq?${new URLSearchParams(Object.entries({ limit: PAGE, job_type: jobType(), ...extra }).filter(([, v]) => v))}`;

const jobsPoller = new Poller(() => query({ limit: Math.min(500, Math.max(PAGE, dlq.jobs.length)) }), ({ items, next_cursor }) => {
  Object.assign(dlq, { jobs: items, nextCursor: next_cursor });
  render();
}, { onError: (error) => { if (error.status) announce(`Could not refresh the failures: ${error.message}`); } });
const messagesPoller = new Poller("/dlq/messages", ({ items }) => { dlq.messages = items; renderMessages(); });

function row(job) {
  const id = job.job_id;
  const error = job.error ? `${job.error.type}: ${job.error.message}` : "—";
  const requeue = el("button", { type: "button", class: "secondary small", "data-testid": "dlq-requeue", text: "Requeue",
    "aria-label": `Requeue job ${short(id)}`, onclick: async () => { if (await requeueJob(id)) drop([id]); } });
  const purge = el("button", { type: "button", class: "danger small", "data-testid": "dlq-purge", text: "Purge",
    "aria-label": `Purge job ${short(id)}`, onclick: () => purgeJob(id) });
  const cell = (label, ...content) => el("td", { "data-label": label }, ...content);
  return el("tr", { "data-testid": "dlq-row", "data-job-id": id },
    cell("Job", jobLink(job)), cell("Type", job.job_type),
    cell("Reason", el("span", { class: "badge s-failed", "data-testid": "dlq-reason", text: job.dead_letter?.reason || "failed" })),
    el("td", { "data-label": "Last error", class: "long", title: job.dead_letter?.description || "" }, error),
    cell("Attempts", `${job.attempt}/${job.max_attempts}`), cell("Failed", time(job.dead_letter?.at || job.finished_at)),
    el("td", { class: "actions" }, requeue, " ", purge));
}

function render() {
  const focusedId = document.activeElement?.closest("tr")?.dataset.jobId;
  $("#dlq-rows").replaceChildren(...dlq.jobs.map(row));
  if (focusedId) $(`#dlq-rows tr[data-job-id="${CSS.escape(focusedId)}"] a`)?.focus();
  const filtered = jobType() ? ` of type ${jobType()}` : "";
  const count = dlq.jobs.length + (dlq.nextCursor ? "+" : "");
  $("#dlq-summary").textContent = dlq.jobs.length ? `${count} failed job(s)${filtered}.` : "";
  $("#dlq-empty").hidden = dlq.jobs.length > 0;
  $("#dlq-empty").textContent = filtered ? `No failed jobs${filtered}.` : "The dead-letter queue is empty.";
  $("#dlq-more").hidden = !dlq.nextCursor;
  for (const button of ["#dlq-requeue-all", "#dlq-purge-all"]) $(button).disabled = !dlq.jobs.length;
  if (!jobType()) setNavCount(dlq.nextCursor ? `${dlq.jobs.length}+` : dlq.jobs.length);
}

function renderMessages() {
  $("#dlq-message-rows").replaceChildren(...dlq.messages.map((m) => el("tr", { "data-testid": "dlq-message-row" },
    el("td", { "data-label": "Message" }, el("code", { text: m.message_id })), el("td", { "data-label": "Queue", text: m.queue }),
    el("td", { "data-label": "Reason", text: m.reason || "—" }), el("td", { "data-label": "Description", class: "long", text: m.description || "—" }),
    el("td", { "data-label": "Deliveries", text: String(m.delivery_count) }), el("td", { "data-label": "Enqueued" }, time(m.enqueued_time)))));
  $("#dlq-messages-empty").hidden = dlq.messages.length > 0;
}

export function setNavCount(count) {
  $("#nav-dlq-count").textContent = count ? String(count) : "";
  $("#nav-dlq-count").setAttribute("aria-label", count ? `${count} failed jobs` : "");
}

function drop(ids) {
  dlq.jobs = dlq.jobs.filter((j) => !ids.includes(j.job_id));
  render();
  jobsPoller.now();
}

/** Requeue or purge every job matching the filter, in rounds of up to 1,000 (the API's limit). */
async function bulk(verb) {
  const what = jobType() ? `every failed ${jobType()} job` : "every failed job";
  const text = verb === "requeue"
    ? `${what} (${$("#dlq-summary").textContent.replace(/\.$/, "") || "none shown"}) goes back to the queue with a fresh budget of attempts.`
    : `${what} is deleted for good, with its history. This cannot be undone.`;
  if (!(await confirmAction(verb === "requeue" ? "Requeue all matching?" : "Purge all matching?", text, verb === "requeue" ? "Requeue all" : "Purge all"))) return;
  let done = 0;
  const seen = new Set();
  try {
    // Rounds of 200 until none is left. A requeued job that fails again at once comes
    // back into the queue; meeting one again ends the loop, so it is requeued once.
    for (let round = 0; round < 50; round++) {
      const { data } = await api(`/dlq/${verb}`, { method: "POST", body: { limit: 200, ...(jobType() ? { job_type: jobType() } : {}) } });
      const again = data.job_ids.some((id) => seen.has(id));
      data.job_ids.forEach((id) => seen.add(id));
      done += data.job_ids.length;
      if (verb === "purge") document.dispatchEvent(new CustomEvent("dtq:purged", { detail: data.job_ids }));
      drop(data.job_ids);
      if (!data.more || again) break;
    }
    announce(`${done} job(s) ${verb === "requeue" ? "requeued" : "purged"}.`);
  } catch (error) {
    announce(`Stopped after ${done} job(s): ${error.message}`);
  }
  jobsPoller.now();
}

async function loadMore() {
  try {
    const { data } = await api(query({ cursor: dlq.nextCursor }));
    const seen = new Set(dlq.jobs.map((j) => j.job_id));
    Object.assign(dlq, { jobs: dlq.jobs.concat(data.items.filter((j) => !seen.has(j.job_id))), nextCursor: data.next_cursor });
    render();
  } catch (error) {
    announce(`Could not load more failures: ${error.message}`);
  }
}

export function startFailures() {
  $("#dlq-type").addEventListener("change", () => { Object.assign(dlq, { jobs: [], nextCursor: null }); render(); jobsPoller.reset(); });
  $("#dlq-requeue-all").addEventListener("click", () => bulk("requeue"));
  $("#dlq-purge-all").addEventListener("click", () => bulk("purge"));
  $("#dlq-more").addEventListener("click", loadMore);
  document.addEventListener("dtq:purged", (e) => drop(e.detail));
  onJob((job) => { if (job.state !== "failed" && dlq.jobs.some((j) => j.job_id === job.job_id)) drop([job.job_id]); });
}

export const failuresView = {
  show: () => { jobsPoller.start(); messagesPoller.start(); },
  hide: () => { jobsPoller.stop(); messagesPoller.stop(); },
};
