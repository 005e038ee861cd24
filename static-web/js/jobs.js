// The live job list: newest first, filters by state and type, "Load more" paging, a
// progress bar per job. Polled with If-None-Match; every second while a job is live.
import { api, CANCELLABLE, Poller, TERMINAL } from "./api.js";
import { cancelJob } from "./actions.js";
import { $, el, announce, badge, fill, jobLink, onJob, progressParts, short, time } from "./dom.js";

const [PAGE, MAX_PAGE] = [20, 500]; // rows per page; the API's largest page
const list = { jobs: [] /* newest first */, rows: new Map() /* job_id -> <tr> */, nextCursor: null, current: null };
/** When this page last learned of each job itself (performance.now()). */
const learnedAt = new Map();

const filters = () => ({ state: $("#filter-state").value, job_type: $("#filter-type").value });
const query = ({ limit = PAGE, cursor } = {}) =>
  `/jobs?${new URLSearchParams(Object.entries({ limit, ...filters(), cursor }).filter(([, v]) => v))}`;
const matches = (job) => { const f = filters(); return (!f.state || job.state === f.state) && (!f.job_type || job.job_type === f.job_type); };

const poller = new Poller(() => query({ limit: Math.min(MAX_PAGE, Math.max(PAGE, list.jobs.length)) }), merge, {
  isLive: () => list.jobs.some((j) => !TERMINAL.has(j.state)),
  onError: (error) => { if (error.status) announce(`Could not refresh the jobs: ${error.message}`); },
});

function makeRow(job) {
  const id = job.job_id;
  const cancel = el("button", { type: "button", class: "secondary small", "data-testid": "job-cancel", text: "Cancel",
    "aria-label": `Cancel job ${short(id)}`, onclick: async () => { await cancelJob(id); poller.now(); } });
  const cell = (label, ...content) => el("td", { "data-label": label }, ...content);
  const tr = el("tr", { "data-job-id": id, "data-testid": "job-row" },
    cell("Job", jobLink(job)), cell("Type"), cell("State"), cell("Progress"), cell("Stage"), cell("Attempt"),
    cell("Updated"), el("td", { class: "actions" }, cancel));
  // The whole row opens the job; the link inside is the keyboard's way.
  tr.addEventListener("click", (e) => { if (!e.target.closest("button, a")) location.hash = `#/jobs/${encodeURIComponent(id)}`; });
  return tr;
}

function updateRow(tr, job) {
  const [, type, state, progress, stage, attempt, updated, actions] = tr.cells;
  type.textContent = job.job_type;
  fill(state, badge(job.state), job.priority !== "normal" ? el("span", { class: `prio p-${job.priority}`, text: job.priority }) : null);
  progress.replaceChildren(...progressParts(job));
  stage.textContent = job.stage || "";
  attempt.textContent = `${job.attempt}/${job.max_attempts}`;
  updated.replaceChildren(time(job.updated_at));
  actions.firstChild.hidden = !CANCELLABLE.has(job.state) || Boolean(job.cancel_requested_at);
  tr.dataset.state = job.state;
  if (job.job_id === list.current) tr.setAttribute("aria-current", "true"); else tr.removeAttribute("aria-current");
}

/** Bring the table in line with list.jobs, keeping row elements (and focus) in place. */
function render() {
  const tbody = $("#jobs");
  const ids = new Set(list.jobs.map((j) => j.job_id));
  for (const [id, tr] of list.rows) if (!ids.has(id)) { tr.remove(); list.rows.delete(id); }
  let next = tbody.firstElementChild;
  for (const job of list.jobs) {
    let tr = list.rows.get(job.job_id);
    if (!tr) list.rows.set(job.job_id, (tr = makeRow(job)));
    updateRow(tr, job);
    if (tr === next) next = next.nextElementSibling;
    else tbody.insertBefore(tr, next);
  }
  $("#jobs-empty").hidden = list.jobs.length > 0;
  $("#jobs-empty").textContent = Object.values(filters()).some(Boolean) ? "No jobs match the filters." : "No jobs yet: submit one.";
  $("#more").hidden = !list.nextCursor;
}

/** A fresh first page; rows loaded with "Load more" beyond it are kept. */
function merge({ items, next_cursor: cursor }, sentAt) {
  // A job this page learned of (a submit) after the request left is missing from the
  // answer only because the answer is older: keep it on top until a page shows it.
  for (const [id, at] of learnedAt) if (performance.now() - at > 30000) learnedAt.delete(id);
  const fresher = list.jobs.filter((j) => (learnedAt.get(j.job_id) ?? -1) > sentAt && matches(j) && !items.some((i) => i.job_id === j.job_id));
  let jobs = fresher.concat(items);
  if (cursor && list.jobs.length > items.length) {
    const at = list.jobs.findIndex((j) => j.job_id === items.at(-1)?.job_id);
    if (at >= 0) { jobs = jobs.concat(list.jobs.slice(at + 1)); cursor = list.nextCursor; }
  }
  const before = new Map(list.jobs.map((j) => [j.job_id, j.state]));
  const news = jobs.filter((j) => before.has(j.job_id) && before.get(j.job_id) !== j.state &&
    (TERMINAL.has(j.state) || j.state === "retrying")).map((j) => `Job ${short(j.job_id)} ${j.state}.`);
  if (news.length) announce(news.slice(0, 3).join(" ") + (news.length > 3 ? ` And ${news.length - 3} more.` : ""));
  Object.assign(list, { jobs, nextCursor: cursor });
  render();
}

async function loadMore() {
  if (!list.nextCursor) return;
  try {
    const { data } = await api(query({ cursor: list.nextCursor }));
    const seen = new Set(list.jobs.map((j) => j.job_id));
    const added = data.items.filter((j) => !seen.has(j.job_id));
    Object.assign(list, { jobs: list.jobs.concat(added), nextCursor: data.next_cursor });
    render();
    announce(`${added.length} more jobs shown.`);
    if (added.length) list.rows.get(added[0].job_id)?.querySelector("a").focus();
  } catch (error) {
    announce(`Could not load more jobs: ${error.message}`);
  }
}

/** A job this page learned about: from its own action (submit, cancel, requeue), shown
 * at once and followed by a fresh list; from push, updated in place, and added only if
 * it is newer than every job shown (an old job's progress must not jump to the top). */
function learn(job, source) {
  const known = list.jobs.some((j) => j.job_id === job.job_id);
  const newest = list.jobs[0]?.job_id ?? "";
  // A pushed event is lean (no payload or error history): merge it into the row's job.
  if (known) list.jobs = list.jobs.map((j) => (j.job_id === job.job_id && j.updated_at <= job.updated_at ? { ...j, ...job } : j));
  else if (matches(job) && (source === "local" || job.job_id > newest)) {
    list.jobs = [job, ...list.jobs];
    learnedAt.set(job.job_id, performance.now());
  }
  render();
  if (!known) list.rows.get(job.job_id)?.classList.add("new");
  if (source === "local") poller.now();
}

export function setFilters({ state = "", type = "" }) {
  if ($("#filter-state").value === state && $("#filter-type").value === type) return;
  $("#filter-state").value = state;
  $("#filter-type").value = type;
  onFilterChange();
}

function onFilterChange() {
  Object.assign(list, { jobs: [], nextCursor: null });
  render();
  poller.reset();
}

/** Mark the row of the job open in the detail view. */
export function markCurrent(id) {
  list.current = id;
  for (const [rowId, tr] of list.rows) if (rowId === id) tr.setAttribute("aria-current", "true"); else tr.removeAttribute("aria-current");
}

export const focusRow = (id) => (list.rows.get(id)?.querySelector("a") || $("#jobs-title")).focus();

export function startJobs() {
  for (const filter of ["#filter-state", "#filter-type"]) $(filter).addEventListener("change", onFilterChange);
  $("#more").addEventListener("click", loadMore);
  onJob(learn);
  document.addEventListener("dtq:purged", (e) => { list.jobs = list.jobs.filter((j) => !e.detail.includes(j.job_id)); render(); });
}

export const jobsView = { show: () => poller.start(), hide: () => poller.stop() };
