// dtq web page: submit jobs, watch them progress, read results. No dependencies.
const API = (document.querySelector('meta[name="dtq-api-base"]')?.content || "/api").replace(/\/$/, "") + "/v1";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const CANCELLABLE = new Set(["queued", "scheduled", "retrying"]);
const $ = (sel) => document.querySelector(sel);

let types = [];
let nextCursor = null;
let listSnapshot = "";
let listDelay = 1000;
let listTimer = 0;
let detail = { id: null, etag: null, timer: 0 };

class ApiError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.problem = problem;
    this.status = status;
  }
}

async function api(path, options = {}) {
  const response = await fetch(API + path, {
    ...options,
    headers: { Accept: "application/json", ...(options.body ? { "Content-Type": "application/json" } : {}), ...options.headers },
  });
  if (response.status === 304) return { notModified: true, response };
  const body = response.status === 204 ? null : await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(body || {}, response.status);
  return { body, response };
}

function announce(text) {
  $("#announcer").textContent = text;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// --- submit form generated from the job type's JSON Schema --------------------

function renderFields() {
  const type = types.find((t) => t.job_type === $("#job-type").value);
  const box = $("#payload-fields");
  box.replaceChildren();
  $("#job-type-description").textContent = type?.description || "";
  if (!type) return;
  const schema = type.payload_schema;
  const required = new Set(schema.required || []);
  for (const [name, prop] of Object.entries(schema.properties || {})) {
    const id = `field-${name}`;
    const kind = prop.type || (prop.anyOf || []).map((a) => a.type).find((t) => t !== "null") || "string";
    const input = el("input", {
      id, name, "data-kind": kind, "aria-describedby": `${id}-hint ${id}-error`,
      type: kind === "boolean" ? "checkbox" : kind === "integer" || kind === "number" ? "number" : "text",
      min: prop.minimum, max: prop.maximum, step: kind === "integer" ? 1 : undefined,
      required: required.has(name), placeholder: prop.default !== undefined ? String(prop.default) : undefined,
    });
    if (kind === "boolean" && prop.default) input.checked = true;
    box.append(
      el("label", { for: id, text: `${prop.title || name}${required.has(name) ? " *" : ""}` }),
      input,
      el("p", { id: `${id}-hint`, class: "hint", text: prop.description || "" }),
      el("p", { id: `${id}-error`, class: "field-error", "data-field": `payload.${name}` }),
    );
  }
}

function collectPayload() {
  const payload = {};
  for (const input of $("#payload-fields").querySelectorAll("input")) {
    const kind = input.dataset.kind;
    if (kind === "boolean") payload[input.name] = input.checked;
    else if (input.value === "") continue;
    else if (kind === "integer" || kind === "number") payload[input.name] = Number(input.value);
    else payload[input.name] = input.value;
  }
  return payload;
}

function showFieldErrors(errors) {
  for (const p of document.querySelectorAll(".field-error")) p.textContent = "";
  for (const { field, message } of errors) {
    const target = document.querySelector(`.field-error[data-field="${CSS.escape(field)}"]`);
    if (target) target.textContent = message;
  }
}

async function onSubmit(event) {
  event.preventDefault();
  $("#form-error").textContent = "";
  showFieldErrors([]);
  const form = event.target;
  if (!form.checkValidity()) {
    form.reportValidity();
    return;
  }
  const body = { job_type: $("#job-type").value, payload: collectPayload() };
  const attempts = $("#max-attempts").value;
  if (attempts) body.max_attempts = Number(attempts);
  try {
    const { body: job } = await api("/jobs", { method: "POST", body: JSON.stringify(body) });
    announce(`Job ${job.job_id} submitted`);
    await refreshList(true);
    openDetail(job.job_id);
  } catch (error) {
    const errors = error.problem?.errors || [];
    showFieldErrors(errors);
    $("#form-error").textContent = error.message;
  }
}

// --- job list ----------------------------------------------------------------

function progressBar(job) {
  return el("div", {
    class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
    "aria-valuenow": job.progress, "aria-label": `progress of job ${job.job_id}`, "data-testid": "progress",
  }, el("span", { style: `width:${job.progress}%` }));
}

function row(job) {
  const cancel = CANCELLABLE.has(job.state)
    ? el("button", { type: "button", class: "secondary", text: "Cancel", "aria-label": `cancel job ${job.job_id}`,
        onclick: (e) => { e.stopPropagation(); cancelJob(job.job_id); } })
    : null;
  return el("tr", { "data-job-id": job.job_id, "data-testid": "job-row", tabindex: 0,
      onclick: () => openDetail(job.job_id),
      onkeydown: (e) => { if (e.key === "Enter") openDetail(job.job_id); } },
    el("td", {}, el("code", { text: job.job_id.slice(-8), title: job.job_id })),
    el("td", { text: job.job_type }),
    el("td", {}, el("span", { class: `badge ${job.state}`, "data-testid": "state", text: job.state })),
    el("td", {}, progressBar(job), el("div", { class: "stage", text: job.stage || "" })),
    el("td", { text: `${job.attempt}/${job.max_attempts}` }),
    el("td", {}, el("time", { datetime: job.updated_at, text: new Date(job.updated_at).toLocaleTimeString() })),
    el("td", {}, cancel),
  );
}

function listQuery(cursor) {
  const params = new URLSearchParams({ limit: "20" });
  if ($("#filter-state").value) params.set("state", $("#filter-state").value);
  if ($("#filter-type").value) params.set("job_type", $("#filter-type").value);
  if (cursor) params.set("cursor", cursor);
  return `/jobs?${params}`;
}

async function refreshList(reset = false) {
  clearTimeout(listTimer);
  try {
    const { body } = await api(listQuery());
    const snapshot = JSON.stringify(body.items);
    const changed = snapshot !== listSnapshot;
    if (changed || reset) {
      listSnapshot = snapshot;
      $("#jobs").replaceChildren(...body.items.map(row));
      nextCursor = body.next_cursor;
      $("#more").hidden = !nextCursor;
    }
    const active = body.items.some((j) => !TERMINAL.has(j.state));
    // Poll every second while a job is live or the list just changed; when all is
    // quiet, back off gradually to every 5 s.
    listDelay = active || changed ? 1000 : Math.min(listDelay * 1.5, 5000);
  } catch (error) {
    listDelay = 5000;
  }
  listTimer = setTimeout(refreshList, listDelay);
}

async function loadMore() {
  const { body } = await api(listQuery(nextCursor));
  $("#jobs").append(...body.items.map(row));
  nextCursor = body.next_cursor;
  $("#more").hidden = !nextCursor;
}

async function cancelJob(id) {
  try {
    await api(`/jobs/${encodeURIComponent(id)}`, { method: "DELETE" });
    announce(`Job ${id} cancelled`);
  } catch (error) {
    announce(`Could not cancel: ${error.message}`);
  }
  refreshList(true);
}

// --- detail ------------------------------------------------------------------

function openDetail(id) {
  clearTimeout(detail.timer);
  detail = { id, etag: null, timer: 0 };
  $("#detail").hidden = false;
  $("#detail-result").textContent = "—";
  pollDetail();
}

async function pollDetail() {
  const id = detail.id;
  try {
    const result = await api(`/jobs/${encodeURIComponent(id)}`, { headers: detail.etag ? { "If-None-Match": detail.etag } : {} });
    if (id !== detail.id) return;
    if (!result.notModified) {
      detail.etag = result.response.headers.get("ETag");
      renderDetail(result.body);
      if (result.body.state === "completed") {
        const { body } = await api(`/jobs/${encodeURIComponent(id)}/result`);
        $("#detail-result").textContent = JSON.stringify(body.result, null, 2);
      }
      if (TERMINAL.has(result.body.state)) return;
    }
  } catch (error) {
    $("#detail-result").textContent = error.message;
  }
  detail.timer = setTimeout(pollDetail, 500);
}

function renderDetail(job) {
  $("#detail-title").textContent = `Job ${job.job_id}`;
  const fields = [
    ["Type", job.job_type], ["State", job.state], ["Progress", `${job.progress}%`], ["Stage", job.stage],
    ["Attempt", `${job.attempt} of ${job.max_attempts}`], ["Created", job.created_at], ["Started", job.started_at],
    ["Finished", job.finished_at], ["Next attempt", job.next_attempt_at], ["Trace id", job.trace_id],
    ["Payload", JSON.stringify(job.payload)],
    ...job.errors.map((e) => [`Error (attempt ${e.attempt})`, `${e.type}: ${e.message}${e.retryable ? " (retryable)" : ""}`]),
  ];
  $("#detail-fields").replaceChildren(
    ...fields.filter(([, v]) => v !== null && v !== undefined && v !== "").flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]),
  );
  $("#detail-fields").append(el("dt", { text: "Progress bar" }), el("dd", {}, progressBar(job)));
}

// --- start -------------------------------------------------------------------

async function start() {
  $("#submit-form").addEventListener("submit", onSubmit);
  $("#job-type").addEventListener("change", renderFields);
  $("#filter-state").addEventListener("change", () => refreshList(true));
  $("#filter-type").addEventListener("change", () => refreshList(true));
  $("#more").addEventListener("click", loadMore);
  try {
    const { body } = await api("/healthz");
    $("#health").textContent = body.ok ? "all backends reachable" : "a backend is unavailable";
  } catch {
    $("#health").textContent = "API unreachable";
  }
  const { body } = await api("/job-types");
  types = body.items;
  $("#job-type").replaceChildren(...types.map((t) => el("option", { value: t.job_type, text: t.job_type })));
  $("#filter-type").append(...types.map((t) => el("option", { value: t.job_type, text: t.job_type })));
  renderFields();
  refreshList(true);
}

start();
