// dtq web page: submit jobs, watch them progress, read results.
// A plain ES module with no dependencies; every request goes to the same origin.
const BASE = (document.querySelector('meta[name="dtq-api-base"]')?.content || "/api").replace(/\/+$/, "");
const API = `${BASE}/v1`;
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const CANCELLABLE = new Set(["queued", "scheduled", "retrying", "running"]);
const [PAGE, MAX_PAGE] = [20, 500]; // rows per page; the API's largest page
const [FAST, SLOW] = [1000, 5000]; // poll delays (ms): while things change, and the longest

const $ = (selector) => document.querySelector(selector);
const short = (id) => id.slice(-8);
const markCurrent = (tr, on) => (on ? tr.setAttribute("aria-current", "true") : tr.removeAttribute("aria-current"));

const state = {
  types: [], jobs: [] /* loaded, newest first */, rows: new Map() /* job_id -> <tr> */, nextCursor: null,
  listKey: "", listDelay: FAST, listTimer: 0, listSeq: 0, online: true, submitting: false,
  detail: { id: null, etag: null, delay: FAST, timer: 0, seq: 0, done: false },
};

// --- HTTP --------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || (status ? `HTTP ${status}` : "the API cannot be reached"));
    this.status = status;
    this.problem = problem || {};
  }
}

/** JSON from the API: {status, data, etag}; 304 gives {status: 304}; errors throw ApiError. */
async function api(path, { method = "GET", body, etag } = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-None-Match"] = etag;
  const init = { method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) };
  const response = await fetch(API + path, init).catch(() => { throw new ApiError(0); });
  if (response.status === 304) return { status: 304 };
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data, etag: response.headers.get("ETag") };
}

// --- DOM helpers -------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

let announced = { text: "", at: 0, timer: 0 };
function announce(text) {
  if (text === announced.text && Date.now() - announced.at < 5000) return; // the list and the detail saw the same change
  clearTimeout(announced.timer);
  $("#announcer").textContent = ""; // cleared first so that a repeated message is read again
  announced = { text, at: Date.now(), timer: setTimeout(() => { $("#announcer").textContent = text; }, 50) };
}

function formatTime(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  return at.toDateString() === new Date().toDateString() ? at.toLocaleTimeString() : at.toLocaleString();
}

const badge = (s, testid = "job-state") => el("span", { class: `badge s-${s}`, "data-testid": testid, "data-state": s, text: s });

const progressParts = (job, testid = "job-progress") => [
  el("progress", { max: 100, value: job.progress, role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
    "aria-valuenow": job.progress, "data-testid": testid, "aria-label": `Progress of job ${short(job.job_id)}`,
    "aria-valuetext": `${job.progress}%${job.stage ? `, ${job.stage}` : ""}` }),
  el("span", { class: "pct", "aria-hidden": "true", text: `${job.progress}%` }),
];

// --- submit form, generated from the job type's JSON Schema -----------------
/** A property schema with $ref / allOf / Optional (anyOf with null) folded in. */
function resolve(schema, prop) {
  const ref = prop.$ref || (prop.allOf?.length === 1 && prop.allOf[0].$ref);
  const base = ref ? schema.$defs?.[ref.split("/").pop()] : (prop.anyOf || prop.oneOf || []).find((a) => a.type !== "null");
  if (!base) return prop;
  const { $ref, allOf, anyOf, oneOf, ...rest } = prop;
  return { ...resolve(schema, base), ...rest };
}

function payloadField(name, prop, required) {
  const id = `f-${name}`; // kinds: enum -> select, anything but a scalar -> JSON textarea
  const kind = Array.isArray(prop.enum) ? "enum" : ["string", "integer", "number", "boolean"].includes(prop.type) ? prop.type : "json";
  const numeric = kind === "integer" || kind === "number";
  const common = { id, name, required, "data-kind": kind, "data-testid": `field-${name}`, "aria-describedby": `${id}-hint err-payload.${name}` };
  let input;
  if (kind === "boolean") input = el("input", { ...common, type: "checkbox", checked: prop.default === true });
  else if (kind === "enum") {
    input = el("select", common, required ? null : el("option", { value: "", text: "—" }),
      ...prop.enum.map((v) => el("option", { value: JSON.stringify(v), text: String(v), selected: v === prop.default })));
  } else if (kind === "json") input = el("textarea", { ...common, rows: 3, placeholder: "JSON", spellcheck: "false" });
  else {
    input = el("input", {
      ...common, type: numeric ? "number" : "text", value: typeof prop.default === "object" ? undefined : prop.default,
      min: prop.minimum, max: prop.maximum, step: kind === "integer" ? 1 : numeric ? "any" : undefined,
      inputmode: kind === "integer" ? "numeric" : numeric ? "decimal" : undefined, minlength: prop.minLength, maxlength: prop.maxLength,
    });
  }
  const label = el("label", { for: id }, prop.title || name,
    required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : null);
  const range = [prop.minimum !== undefined && `min ${prop.minimum}`, prop.maximum !== undefined && `max ${prop.maximum}`].filter(Boolean);
  const hint = [prop.description, range.join(", ")].filter(Boolean).join(" — ");
  return el("div", { class: kind === "boolean" ? "field check" : "field" },
    ...(kind === "boolean" ? [input, label] : [label, input]),
    el("p", { id: `${id}-hint`, class: "hint", text: hint }),
    el("p", { id: `err-payload.${name}`, class: "field-error", "data-for": id }));
}

function renderFields() {
  const type = state.types.find((t) => t.job_type === $("#job-type").value);
  $("#job-type-hint").textContent = type?.description || "";
  clearErrors();
  const schema = type?.payload_schema || {};
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, prop]) => payloadField(name, resolve(schema, prop), required.has(name)));
  $("#payload-fields").replaceChildren(...(fields.length ? fields : [el("p", { class: "hint", text: "This job type takes no payload." })]));
}

/** The payload from the generated fields, plus errors found before sending. */
function collectPayload() {
  const [payload, problems] = [{}, []];
  for (const input of $("#payload-fields").querySelectorAll("[data-kind]")) {
    const { kind } = input.dataset;
    const field = `payload.${input.name}`;
    if (kind === "boolean") payload[input.name] = input.checked;
    else if (input.validity.badInput) problems.push({ field, message: "Enter a number." });
    else if (input.value.trim() === "") continue;
    else if (kind === "integer" || kind === "number") payload[input.name] = Number(input.value);
    else if (kind === "string") payload[input.name] = input.value;
    else try { payload[input.name] = JSON.parse(input.value); } catch { problems.push({ field, message: "Enter valid JSON." }); }
  }
  return { payload, problems };
}

function clearErrors() {
  for (const slot of document.querySelectorAll(".field-error")) slot.textContent = "";
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  $("#form-error").replaceChildren();
}

/** Each {field, message} next to its field ("payload.a.b" falls back to "payload.a", then "payload"). */
function showErrors(summary, errors) {
  clearErrors();
  const elsewhere = [];
  let first = null;
  for (const { field = "", message } of errors) {
    let slot = null;
    const parts = field.split(".");
    while (parts.length && !(slot = document.getElementById(`err-${parts.join(".")}`))) parts.pop();
    if (!slot) { elsewhere.push(`${field || "request"}: ${message}`); continue; }
    const text = parts.join(".") === field ? message : `${field}: ${message}`;
    slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
    const input = slot.dataset.for && document.getElementById(slot.dataset.for);
    if (input) { input.setAttribute("aria-invalid", "true"); first ??= input; }
  }
  $("#form-error").append(el("p", { text: summary }),
    elsewhere.length ? el("ul", {}, ...elsewhere.map((t) => el("li", { text: t }))) : null);
  first?.focus();
}

async function onSubmit(event) {
  event.preventDefault();
  if (state.submitting) return; // no double submissions (the API has no idempotency key)
  const { payload, problems } = collectPayload();
  const attempts = $("#max-attempts");
  if (attempts.validity.badInput) problems.push({ field: "max_attempts", message: "Enter a whole number." });
  if (problems.length) return showErrors("Please correct the marked fields.", problems);
  const body = { job_type: $("#job-type").value, payload };
  if (attempts.value.trim() !== "") body.max_attempts = Number(attempts.value);
  state.submitting = true;
  $("#submit-form").setAttribute("aria-busy", "true");
  try {
    const { data: job } = await api("/jobs", { method: "POST", body });
    clearErrors();
    addJob(job);
    announce(`Job ${short(job.job_id)} (${job.job_type}) submitted: ${job.state}.`);
  } catch (error) {
    showErrors(`Not submitted: ${error.message}`, error.problem.errors || []);
  } finally {
    state.submitting = false;
    $("#submit-form").removeAttribute("aria-busy");
  }
}

// --- jobs table ----------------------------------------------------------------
function makeRow(id) {
  const open = el("button", { type: "button", class: "link", title: id, "data-testid": "job-open",
    "aria-label": `Job ${short(id)} details`, onclick: () => openDetail(id) }, el("code", { text: short(id) }));
  const cancel = el("button", { type: "button", class: "secondary small", "data-testid": "job-cancel", text: "Cancel",
    "aria-label": `Cancel job ${short(id)}`, onclick: () => cancelJob(id) });
  const cell = (label, ...content) => el("td", { "data-label": label }, ...content);
  const tr = el("tr", { "data-job-id": id, "data-testid": "job-row" },
    cell("Job", open), cell("Type"), cell("State"), cell("Progress"), cell("Stage"), cell("Attempt"),
    cell("Updated"), el("td", { class: "actions" }, cancel));
  tr.addEventListener("click", (e) => { if (!e.target.closest("button")) openDetail(id); });
  return tr;
}

function updateRow(tr, job) {
  const [, type, st, progress, stage, attempt, updated, actions] = tr.cells;
  type.textContent = job.job_type;
  st.replaceChildren(badge(job.state));
  progress.replaceChildren(...progressParts(job));
  stage.textContent = job.stage || "";
  attempt.textContent = `${job.attempt}/${job.max_attempts}`;
  updated.replaceChildren(el("time", { datetime: job.updated_at, title: job.updated_at, text: formatTime(job.updated_at) }));
  actions.firstChild.hidden = !CANCELLABLE.has(job.state) || Boolean(job.cancel_requested_at);
  tr.dataset.state = job.state;
  markCurrent(tr, job.job_id === state.detail.id);
}

/** Bring the table in line with state.jobs, keeping row elements (and focus) in place. */
function renderRows() {
  const tbody = $("#jobs");
  const ids = new Set(state.jobs.map((j) => j.job_id));
  for (const [id, tr] of state.rows) if (!ids.has(id)) { tr.remove(); state.rows.delete(id); }
  let next = tbody.firstElementChild;
  for (const job of state.jobs) {
    let tr = state.rows.get(job.job_id);
    if (!tr) state.rows.set(job.job_id, (tr = makeRow(job.job_id)));
    updateRow(tr, job);
    if (tr === next) next = next.nextElementSibling;
    else tbody.insertBefore(tr, next);
  }
  $("#jobs-empty").hidden = state.jobs.length > 0;
  $("#jobs-empty").textContent = Object.values(filters()).some(Boolean) ? "No jobs match the filters." : "No jobs yet.";
  $("#more").hidden = !state.nextCursor;
}

function replaceJob(job) {
  state.jobs = state.jobs.map((j) => (j.job_id === job.job_id ? job : j));
  renderRows();
}

function addJob(job) {
  const { state: s, job_type: t } = filters();
  if ((!s || job.state === s) && (!t || job.job_type === t)) {
    state.jobs = [job, ...state.jobs.filter((j) => j.job_id !== job.job_id)];
    renderRows();
    state.rows.get(job.job_id)?.classList.add("new");
  }
  state.listDelay = FAST;
  refreshList();
}

const filters = () => ({ state: $("#filter-state").value, job_type: $("#filter-type").value });
const listQuery = ({ limit = PAGE, cursor } = {}) =>
  `/jobs?${new URLSearchParams(Object.entries({ limit, ...filters(), cursor }).filter(([, v]) => v))}`;

/** Take a fresh first page; rows loaded with "Load more" beyond it are kept. True if anything changed. */
function merge(items, cursor) {
  let jobs = items;
  if (cursor && state.jobs.length > items.length) {
    const at = state.jobs.findIndex((j) => j.job_id === items.at(-1)?.job_id);
    if (at >= 0) { jobs = items.concat(state.jobs.slice(at + 1)); cursor = state.nextCursor; }
  }
  const before = new Map(state.jobs.map((j) => [j.job_id, j.state]));
  const news = jobs.filter((j) => before.has(j.job_id) && before.get(j.job_id) !== j.state &&
    (TERMINAL.has(j.state) || j.state === "retrying")).map((j) => `Job ${short(j.job_id)} ${j.state}.`);
  if (news.length) announce(news.slice(0, 3).join(" ") + (news.length > 3 ? ` And ${news.length - 3} more.` : ""));
  const key = `${cursor}|${jobs.map((j) => `${j.job_id}@${j.updated_at}`).join()}`;
  const changed = key !== state.listKey;
  Object.assign(state, { jobs, nextCursor: cursor, listKey: key });
  if (changed) renderRows();
  return changed;
}

function setOnline(online, error) {
  if (online === state.online) return;
  state.online = online;
  $("#health").textContent = online ? "API reachable" : `API unreachable (${error.message}); retrying…`;
  announce(online ? "Connection to the API restored." : "Lost the connection to the API; retrying.");
}

/** Poll the list: every second while it changes, backing off to 5 s while it does not. */
async function refreshList() {
  clearTimeout(state.listTimer);
  const seq = ++state.listSeq; // a newer refresh makes this one's answer stale
  try {
    const { data } = await api(listQuery({ limit: Math.min(MAX_PAGE, Math.max(PAGE, state.jobs.length)) }));
    if (seq !== state.listSeq) return;
    setOnline(true);
    const changed = merge(data.items, data.next_cursor);
    const live = state.jobs.some((j) => !TERMINAL.has(j.state));
    // Every second while a job is live (progress must show within about a second) or
    // the list just changed; when all is quiet, back off gradually to SLOW.
    state.listDelay = changed || live ? FAST : Math.min(state.listDelay * 1.5, SLOW);
  } catch (error) {
    if (seq !== state.listSeq) return;
    if (error.status) announce(`Could not refresh the jobs: ${error.message}`);
    else setOnline(false, error);
    state.listDelay = SLOW;
  }
  if (!document.hidden) state.listTimer = setTimeout(refreshList, state.listDelay);
}

async function loadMore() {
  if (!state.nextCursor) return;
  try {
    const { data } = await api(listQuery({ cursor: state.nextCursor }));
    const seen = new Set(state.jobs.map((j) => j.job_id));
    const added = data.items.filter((j) => !seen.has(j.job_id));
    state.jobs = state.jobs.concat(added);
    state.nextCursor = data.next_cursor;
    renderRows();
    announce(`${added.length} more jobs shown.`);
    if (!state.nextCursor && added.length) state.rows.get(added[0].job_id)?.querySelector("button.link").focus();
  } catch (error) {
    announce(`Could not load more jobs: ${error.message}`);
  }
}

function onFilterChange() {
  Object.assign(state, { jobs: [], nextCursor: null, listKey: "", listDelay: FAST });
  renderRows();
  refreshList();
}

async function cancelJob(id) {
  const focused = document.activeElement;
  try {
    const { data } = await api(`/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
    replaceJob(data);
    if (state.detail.id === id) renderDetail(data);
    announce(data.state === "cancelled" ? `Job ${short(id)} cancelled.` : `Job ${short(id)} is stopping.`);
  } catch (error) {
    announce(`Could not cancel job ${short(id)}: ${error.message}`);
  }
  if (focused?.hidden) (focused.id === "detail-cancel" ? $("#detail-title") : state.rows.get(id)?.querySelector("button.link"))?.focus();
  state.listDelay = FAST;
  refreshList();
  if (state.detail.id === id) pollDetail();
}

// --- job detail ----------------------------------------------------------------
function openDetail(id) {
  const d = state.detail;
  clearTimeout(d.timer);
  Object.assign(d, { id, etag: null, delay: FAST, seq: d.seq + 1, done: false, state: null });
  for (const [rowId, tr] of state.rows) markCurrent(tr, rowId === id);
  $("#detail").hidden = false;
  $("#detail-title").textContent = `Job ${id}`;
  $("#detail-fields").replaceChildren();
  [$("#detail-payload").textContent, $("#detail-result").textContent] = ["", "Loading…"];
  $("#detail-error-box").hidden = $("#detail-cancel").hidden = true;
  $("#detail-title").focus();
  pollDetail();
}

function closeDetail() {
  const d = state.detail, id = d.id;
  clearTimeout(d.timer);
  Object.assign(d, { id: null, seq: d.seq + 1, done: true });
  $("#detail").hidden = true;
  for (const tr of state.rows.values()) markCurrent(tr, false);
  (state.rows.get(id)?.querySelector("button.link") || $("#jobs-title")).focus();
}

/** Poll the open job with If-None-Match; a 304 means unchanged, so the delay grows. */
async function pollDetail() {
  const d = state.detail;
  clearTimeout(d.timer);
  const seq = ++d.seq, id = d.id;
  try {
    const response = await api(`/jobs/${encodeURIComponent(id)}`, { etag: d.etag });
    if (seq !== d.seq) return;
    if (response.status === 304) d.delay = Math.min(d.delay * 1.5, SLOW);
    else {
      const job = response.data;
      if (d.state && d.state !== job.state) announce(`Job ${short(id)} ${job.state}.`);
      Object.assign(d, { etag: response.etag, delay: FAST, state: job.state });
      renderDetail(job);
      if (state.jobs.some((j) => j.job_id === id && j.updated_at !== job.updated_at)) replaceJob(job);
      if (job.state === "completed") {
        const result = await api(`/jobs/${encodeURIComponent(id)}/result`).catch((error) => error);
        if (seq !== d.seq) return;
        $("#detail-result").textContent = result instanceof ApiError ? `The result is unavailable: ${result.message}` : JSON.stringify(result.data.result, null, 2);
      }
      if (TERMINAL.has(job.state)) { d.done = true; return; }
    }
  } catch (error) {
    if (seq !== d.seq) return;
    $("#detail-result").textContent = `Could not load the job: ${error.message}`;
    if (error.status === 404) { d.done = true; return; }
    d.delay = SLOW;
  }
  if (!document.hidden) d.timer = setTimeout(pollDetail, d.delay);
}

function renderDetail(job) {
  const shown = (value) => (value === null || value === undefined || value === "" ? "—" : typeof value === "object" ? JSON.stringify(value) : String(value));
  const rows = Object.entries(job).filter(([key]) => !["payload", "error", "errors", "links"].includes(key)).map(([key, value]) => {
    if (key === "state") return [key, badge(value, "detail-state")];
    if (key === "progress") return [key, ...progressParts(job, "detail-progress")];
    if (key.endsWith("_at") && value) return [key, el("time", { datetime: value, text: `${formatTime(value)} (${value})` })];
    return [key, shown(value)];
  });
  $("#detail-fields").replaceChildren(...rows.flatMap(([key, ...value]) => [el("dt", { text: key.replaceAll("_", " ") }), el("dd", {}, ...value)]));
  $("#detail-payload").textContent = JSON.stringify(job.payload, null, 2);
  const errors = job.errors || [];
  $("#detail-error-box").hidden = !job.error && !errors.length;
  $("#detail-error").textContent = JSON.stringify(job.error, null, 2) +
    (errors.length > 1 ? `\n\nEvery attempt:\n${JSON.stringify(errors, null, 2)}` : "");
  $("#detail-cancel").hidden = !CANCELLABLE.has(job.state) || Boolean(job.cancel_requested_at);
  if (job.state !== "completed") $("#detail-result").textContent = TERMINAL.has(job.state) ? `No result: the job is ${job.state}.` : "No result yet.";
}

// --- start -----------------------------------------------------------------------
async function loadTypes() {
  try {
    const { data } = await api("/job-types");
    state.types = data.items;
    const options = () => state.types.map((t) => el("option", { value: t.job_type, text: t.job_type }));
    $("#job-type").replaceChildren(...options());
    $("#filter-type").append(...options());
    renderFields();
  } catch (error) {
    showErrors(`Could not load the job types (${error.message}); retrying…`, []);
    setTimeout(loadTypes, SLOW);
  }
}

async function checkHealth() {
  const health = await api("/healthz").catch((error) => error); // 503 carries the report with the failing checks
  const down = Object.entries(health.problem?.checks || {}).filter(([, c]) => !c.ok).map(([name]) => name);
  $("#health").textContent = !(health instanceof ApiError) ? "API reachable"
    : down.length ? `API degraded: ${down.join(", ")} unavailable` : `API unreachable (${health.message})`;
}

function start() {
  $("#submit-form").addEventListener("submit", onSubmit);
  $("#job-type").addEventListener("change", renderFields);
  for (const filter of ["#filter-state", "#filter-type"]) $(filter).addEventListener("change", onFilterChange);
  $("#more").addEventListener("click", loadMore);
  $("#detail-close").addEventListener("click", closeDetail);
  $("#detail-cancel").addEventListener("click", () => cancelJob(state.detail.id));
  $("#detail").addEventListener("keydown", (e) => { if (e.key === "Escape") closeDetail(); });
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) return;
    state.listDelay = FAST;
    refreshList();
    if (state.detail.id && !state.detail.done) pollDetail();
  });
  checkHealth();
  loadTypes();
  refreshList();
}

start();
