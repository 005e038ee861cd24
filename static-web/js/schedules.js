// Recurring schedules (docs/schedules.md): the tenant's schedules with pause, resume and
// delete; a form to create or edit one, whose job template comes from the same
// schema-driven payload fields as the Jobs form; a schedule's next runs and its jobs.
import { api, Poller } from "./api.js";
import { $, el, announce, badge, confirmAction, fill, short, time } from "./dom.js";
import { clearFieldErrors, collectPayload, renderPayloadFields, showFieldErrors, types } from "./form.js";

const PAGE = 100;
const PREVIEW = 5;
/** The Schedules form's ids: its own, so that both forms can be in the page at once. */
const IDS = { input: "sf-", error: "serr-template.payload.", testid: "schedule-field-" };
const state = { items: [], nextCursor: null, open: null /* id */, detail: null, editing: null /* {id, etag} */, saving: false };

const browserZone = () => { try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch { return "UTC"; } };
const repeatText = (s) => (s.cron ? `cron ${s.cron}` : `every ${seconds(s.interval_seconds)}`);
const stateOf = (s) => (s.paused ? "paused" : "active");

function seconds(n) {
  if (n % 86400 === 0) return `${n / 86400} day(s)`;
  if (n % 3600 === 0) return `${n / 3600} hour(s)`;
  if (n % 60 === 0) return `${n / 60} min`;
  return `${n} s`;
}

const listPoller = new Poller(() => `/schedules?limit=${Math.max(PAGE, state.items.length)}`, ({ items, next_cursor }) => {
  Object.assign(state, { items, nextCursor: next_cursor });
  renderList();
}, { onError: (error) => { if (error.status) announce(`Could not refresh the schedules: ${error.message}`); } });

// GET /schedules/{id} answers no 304 (its preview and history change under one ETag):
// an answer equal to the last one counts as unchanged, so the polls slow down.
let lastDetail = "";
const detailPoller = new Poller(() => `/schedules/${encodeURIComponent(state.open)}?preview=${PREVIEW}&jobs=20`, (data) => {
  const text = JSON.stringify(data);
  if (text === lastDetail && state.detail?.schedule_id === data.schedule_id) return "unchanged";
  lastDetail = text;
  state.detail = data;
  renderDetail();
  return undefined;
}, {
  onError: (error) => {
    if (error.status === 404) { announce("That schedule no longer exists."); location.hash = "#/schedules"; return false; }
    if (error.status) announce(`Could not load the schedule: ${error.message}`);
    return undefined;
  },
});

// --- the list

function row(s) {
  const id = s.schedule_id;
  const toggle = el("button", { type: "button", class: "secondary small", "data-testid": s.paused ? "schedule-resume" : "schedule-pause",
    text: s.paused ? "Resume" : "Pause", "aria-label": `${s.paused ? "Resume" : "Pause"} schedule ${s.name}`,
    onclick: () => setPaused(s, !s.paused) });
  const remove = el("button", { type: "button", class: "danger small", "data-testid": "schedule-delete", text: "Delete",
    "aria-label": `Delete schedule ${s.name}`, onclick: () => deleteSchedule(s) });
  const cell = (label, ...content) => el("td", { "data-label": label }, ...content);
  return el("tr", { "data-testid": "schedule-row", "data-schedule-id": id, "aria-current": state.open === id ? "true" : undefined },
    cell("Name", el("a", { href: `#/schedules/${encodeURIComponent(id)}`, "data-testid": "schedule-link", text: s.name })),
    cell("Repeat", el("code", { text: repeatText(s) })), cell("Zone", s.timezone), cell("Job type", s.template.job_type),
    cell("State", badge(stateOf(s), "schedule-state")),
    el("td", { "data-label": "Next run", "data-testid": "schedule-next-run" }, s.paused ? "— (paused)" : time(s.next_fire_at)),
    el("td", { "data-label": "Last run", "data-testid": "schedule-last-run" }, time(s.last_tick_at)),
    el("td", { class: "actions" }, toggle, " ", remove));
}

function renderList() {
  const focused = document.activeElement;
  const focusedRow = focused?.closest?.("#schedule-rows tr")?.dataset.scheduleId;
  const focusedTestid = focused?.dataset?.testid;
  $("#schedule-rows").replaceChildren(...state.items.map(row));
  if (focusedRow) {
    const tr = $(`#schedule-rows tr[data-schedule-id="${CSS.escape(focusedRow)}"]`);
    // Pause becomes Resume in the new row: keep focus on the same place.
    const again = focusedTestid === "schedule-pause" || focusedTestid === "schedule-resume" ? "schedule-pause, schedule-resume" : focusedTestid;
    const target = again && tr?.querySelector(again.split(", ").map((t) => `[data-testid="${t}"]`).join(", "));
    (target || tr?.querySelector("a"))?.focus();
  }
  $("#schedules-empty").hidden = state.items.length > 0;
  $("#schedules-more").hidden = !state.nextCursor;
}

async function loadMore() {
  try {
    const { data } = await api(`/schedules?limit=${PAGE}&cursor=${encodeURIComponent(state.nextCursor)}`);
    const seen = new Set(state.items.map((s) => s.schedule_id));
    Object.assign(state, { items: state.items.concat(data.items.filter((s) => !seen.has(s.schedule_id))), nextCursor: data.next_cursor });
    renderList();
  } catch (error) {
    announce(`Could not load more schedules: ${error.message}`);
  }
}

async function setPaused(s, paused) {
  try {
    const { data } = await api(`/schedules/${encodeURIComponent(s.schedule_id)}:${paused ? "pause" : "resume"}`, { method: "POST" });
    state.items = state.items.map((x) => (x.schedule_id === data.schedule_id ? data : x));
    renderList();
    announce(`Schedule ${data.name} ${paused ? "paused" : "resumed"}${paused ? "" : `; next run ${data.next_fire_at ? new Date(data.next_fire_at).toLocaleString() : "none"}`}.`);
  } catch (error) {
    announce(`Could not ${paused ? "pause" : "resume"} schedule ${s.name}: ${error.message}`);
  }
  listPoller.now();
  detailPoller.now();
}

async function deleteSchedule(s) {
  const ok = await confirmAction(`Delete schedule ${s.name}?`,
    "It makes no more jobs. The jobs it made stay. This cannot be undone.", "Delete schedule");
  if (!ok) return;
  try {
    await api(`/schedules/${encodeURIComponent(s.schedule_id)}`, { method: "DELETE" });
    state.items = state.items.filter((x) => x.schedule_id !== s.schedule_id);
    renderList();
    announce(`Schedule ${s.name} deleted.`);
    if (state.editing?.id === s.schedule_id) stopEditing();
    if (state.open === s.schedule_id) location.hash = "#/schedules";
    else setTimeout(() => $("#schedules-title").focus(), 0); // its row is gone
  } catch (error) {
    announce(`Could not delete schedule ${s.name}: ${error.message}`);
  }
  listPoller.now();
}

// --- one schedule's detail

function renderDetail() {
  const s = state.detail;
  if (!s) return;
  $("#schedule-detail-title").textContent = `Schedule ${s.name}`;
  const pair = (term, value, testid) => [el("dt", { text: term }), el("dd", { "data-testid": testid }, value)];
  const t = s.template;
  fill($("#schedule-detail-fields"),
    pair("State", badge(stateOf(s), "schedule-detail-state")), pair("Repeat", el("code", { text: repeatText(s) })),
    pair("Time zone", s.timezone), pair("Job", `${t.job_type}, ${t.priority} priority${t.max_attempts ? `, ${t.max_attempts} attempts` : ""}`),
    pair("Payload", el("code", { text: JSON.stringify(t.payload) })),
    pair("Start", time(s.start_at)), pair("End", time(s.end_at)),
    pair("After missed runs", s.misfire === "run_once" ? "run once for all" : "skip them"),
    pair("While the previous job runs", s.overlap === "skip" ? "skip this run" : "start anyway"),
    pair("Last run", time(s.last_tick_at)), pair("ID", el("code", { text: s.schedule_id })));
  const next = s.next_fire_times || [];
  // In the browser's time, and on the schedule's own clock where that differs.
  const zoned = (at) => {
    if (s.timezone === browserZone()) return null;
    try { return el("span", { class: "zone-time", text: ` (${new Date(at).toLocaleString(undefined, { timeZone: s.timezone, dateStyle: "medium", timeStyle: "short" })} ${s.timezone})` }); } catch { return null; }
  };
  fill($("#schedule-next"), next.length ? next.map((at) => el("li", { "data-testid": "schedule-fire-time" }, time(at), zoned(at)))
    : el("li", { class: "hint", text: s.paused ? "None while paused." : "None: the schedule has ended." }));
  const jobs = s.jobs || [];
  const cell = (label, ...content) => el("td", { "data-label": label }, ...content);
  fill($("#schedule-jobs"), jobs.length
    ? el("table", {},
      el("caption", { class: "visually-hidden", text: "Jobs the schedule made, newest first" }),
      el("thead", {}, el("tr", {}, ["Run", "Outcome", "Job"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, jobs.map((j) => el("tr", { "data-testid": "schedule-job-row" },
        cell("Run", time(j.tick_at)), cell("Outcome", j.outcome),
        cell("Job", j.job_id ? el("a", { href: `#/jobs/${encodeURIComponent(j.job_id)}`, "data-testid": "schedule-job-link", title: j.job_id },
          el("code", { text: short(j.job_id) })) : "—")))))
    : el("p", { class: "hint", text: "No jobs yet." }));
}

/** #/schedules/{id}: show that schedule's detail (focus on its title). */
export async function openSchedule(id) {
  if (state.open === id && !$("#schedule-detail").hidden) return;
  state.open = id;
  state.detail = state.items.find((s) => s.schedule_id === id) || null;
  lastDetail = ""; // the first answer renders, whatever was shown before
  $("#schedule-detail").hidden = false;
  $("#schedule-detail-title").textContent = "Schedule";
  fill($("#schedule-next"));
  fill($("#schedule-jobs"));
  renderDetail();
  renderList();
  detailPoller.reset();
  detailPoller.start();
  $("#schedule-detail-title").focus();
  $("#schedule-detail").scrollIntoView?.({ block: "nearest" });
}

export function closeSchedule() {
  if (state.open === null) return;
  const id = state.open;
  Object.assign(state, { open: null, detail: null });
  detailPoller.stop();
  $("#schedule-detail").hidden = true;
  renderList();
  $(`#schedule-rows tr[data-schedule-id="${CSS.escape(id)}"] a`)?.focus();
}

// --- the form

function fillJobTypes() {
  const select = $("#sched-job-type");
  const chosen = select.value;
  select.replaceChildren(...types.map((t) => el("option", { value: t.job_type, text: t.job_type })));
  if (chosen && types.some((t) => t.job_type === chosen)) select.value = chosen;
  renderTemplate();
}

function renderTemplate(payload) {
  const type = renderPayloadFields($("#sched-payload-fields"), $("#sched-job-type").value, IDS);
  $("#sched-job-type-hint").textContent = type?.description || "";
  if (payload) {
    for (const input of $("#sched-payload-fields").querySelectorAll("[data-kind]")) {
      if (!(input.name in payload)) continue;
      const value = payload[input.name];
      if (input.dataset.kind === "boolean") input.checked = value === true;
      else if (input.dataset.kind === "enum") input.value = JSON.stringify(value);
      else if (input.dataset.kind === "json") input.value = JSON.stringify(value);
      else input.value = String(value);
    }
  }
}

function showRepeat() {
  const byCron = $("#sched-by-cron").checked;
  $("#sched-cron-field").hidden = !byCron;
  $("#sched-interval-field").hidden = byCron;
}

/** A datetime-local value (the browser's time) as RFC 3339 with an offset, and back. */
const toIso = (local) => (local ? new Date(local).toISOString() : null);
function toLocal(iso) {
  if (!iso) return "";
  const at = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}

function collect() {
  const { payload, problems } = collectPayload($("#sched-payload-fields"), "template.payload");
  const template = { job_type: $("#sched-job-type").value, payload, priority: $("#sched-priority").value };
  const number = (selector, field) => {
    const input = $(selector);
    if (input.validity.badInput) { problems.push({ field, message: "Enter a number." }); return undefined; }
    return input.value.trim() === "" ? null : Number(input.value);
  };
  const attempts = number("#sched-max-attempts", "template.max_attempts");
  const timeout = number("#sched-timeout", "template.timeout_seconds");
  if (attempts != null) template.max_attempts = attempts;
  if (timeout != null) template.timeout_seconds = timeout;
  const body = {
    name: $("#sched-name").value.trim(),
    timezone: $("#sched-timezone").value.trim() || "UTC",
    misfire: $("#sched-misfire").value,
    overlap: $("#sched-overlap").value,
    start_at: toIso($("#sched-start").value),
    end_at: toIso($("#sched-end").value),
    template,
  };
  if (!body.name) problems.push({ field: "name", message: "Give the schedule a name." });
  if ($("#sched-by-cron").checked) {
    Object.assign(body, { cron: $("#sched-cron").value.trim(), interval_seconds: null });
    if (!body.cron) problems.push({ field: "cron", message: "Enter a cron expression." });
  } else {
    Object.assign(body, { interval_seconds: number("#sched-interval", "interval_seconds"), cron: null });
    if (body.interval_seconds === null) problems.push({ field: "interval_seconds", message: "Enter the interval in seconds." });
  }
  if (!state.editing) for (const key of ["start_at", "end_at", "cron", "interval_seconds"]) if (body[key] === null) delete body[key];
  return { body, problems };
}

const showErrors = (summary, errors) => showFieldErrors($("#schedule-form"), $("#schedule-form-error"), summary, errors, "serr-");

async function onSave(event) {
  event.preventDefault();
  if (state.saving) return;
  const { body, problems } = collect();
  if (problems.length) return showErrors("Please correct the marked fields.", problems);
  const editing = state.editing;
  state.saving = true;
  $("#schedule-form").setAttribute("aria-busy", "true");
  try {
    const { data } = editing
      ? await api(`/schedules/${encodeURIComponent(editing.id)}`, { method: "PATCH", body, headers: { "If-Match": editing.etag } })
      : await api("/schedules", { method: "POST", body });
    clearFieldErrors($("#schedule-form"), $("#schedule-form-error"));
    const known = state.items.some((s) => s.schedule_id === data.schedule_id);
    state.items = known ? state.items.map((s) => (s.schedule_id === data.schedule_id ? data : s)) : state.items.concat(data);
    renderList();
    announce(`Schedule ${data.name} ${editing ? "saved" : "created"}; next run ${data.next_fire_at ? new Date(data.next_fire_at).toLocaleString() : "none"}.`);
    stopEditing();
    listPoller.now();
    if (state.open === data.schedule_id) { detailPoller.now(); $("#schedule-detail-title").focus(); }
    else location.hash = `#/schedules/${encodeURIComponent(data.schedule_id)}`; // the new schedule opens
  } catch (error) {
    const summary = error.status === 412 ? "Not saved: the schedule changed since you opened it. Open it again to edit the latest version."
      : error.status === 422 || error.status === 400 ? "Not saved: the server refused some fields."
      : `Not saved: ${error.message}`;
    showErrors(summary, error.problem?.errors || []);
  } finally {
    state.saving = false;
    $("#schedule-form").removeAttribute("aria-busy");
  }
}

function resetForm() {
  $("#schedule-form").reset();
  $("#sched-timezone").value = browserZone();
  showRepeat();
  renderTemplate();
  clearFieldErrors($("#schedule-form"), $("#schedule-form-error"));
}

function stopEditing() {
  state.editing = null;
  $("#schedule-form-title").textContent = "New schedule";
  $("#schedule-save").textContent = "Create schedule";
  $("#schedule-edit-cancel").hidden = true;
  resetForm();
}

/** Fill the form with the open schedule to change it (PATCH with If-Match). */
async function startEditing() {
  let s = state.detail;
  let etag = null;
  try {
    const answer = await api(`/schedules/${encodeURIComponent(state.open)}?preview=0&jobs=1`);
    [s, etag] = [answer.data, answer.etag];
  } catch (error) {
    return announce(`Could not open the schedule to edit: ${error.message}`);
  }
  resetForm();
  state.editing = { id: s.schedule_id, etag };
  $("#sched-name").value = s.name;
  $(s.cron ? "#sched-by-cron" : "#sched-by-interval").checked = true;
  $("#sched-cron").value = s.cron || "";
  $("#sched-interval").value = s.interval_seconds ?? "";
  $("#sched-timezone").value = s.timezone;
  $("#sched-start").value = toLocal(s.start_at);
  $("#sched-end").value = toLocal(s.end_at);
  $("#sched-misfire").value = s.misfire;
  $("#sched-overlap").value = s.overlap;
  $("#sched-priority").value = s.template.priority;
  $("#sched-max-attempts").value = s.template.max_attempts ?? "";
  $("#sched-timeout").value = s.template.timeout_seconds ?? "";
  if (types.some((t) => t.job_type === s.template.job_type)) $("#sched-job-type").value = s.template.job_type;
  showRepeat();
  renderTemplate(s.template.payload);
  $("#schedule-form-title").textContent = `Edit schedule ${s.name}`;
  $("#schedule-save").textContent = "Save changes";
  $("#schedule-edit-cancel").hidden = false;
  $("#sched-name").focus();
}

export function startSchedules() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  $("#sched-zones").replaceChildren(...["UTC", ...zones].map((z) => el("option", { value: z })));
  $("#sched-timezone").value = browserZone();
  $("#schedule-form").addEventListener("submit", onSave);
  $("#sched-job-type").addEventListener("change", () => renderTemplate());
  for (const radio of document.querySelectorAll('#schedule-form input[name="repeat"]')) radio.addEventListener("change", showRepeat);
  $("#schedules-more").addEventListener("click", loadMore);
  $("#schedule-detail-edit").addEventListener("click", startEditing);
  $("#schedule-edit-cancel").addEventListener("click", () => { stopEditing(); $("#sched-name").focus(); announce("Editing stopped."); });
  $("#schedule-detail").addEventListener("keydown", (e) => { if (e.key === "Escape") location.hash = "#/schedules"; });
  document.addEventListener("dtq:types", fillJobTypes);
  if (types.length) fillJobTypes();
  showRepeat();
}

export const schedulesView = {
  show: () => { listPoller.start(); if (state.open) detailPoller.start(); },
  hide: () => { listPoller.stop(); closeSchedule(); },
};
