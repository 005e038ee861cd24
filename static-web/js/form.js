// The submit form, generated from each job type's JSON Schema (GET /job-types), so
// user-defined job types appear with no change here.
import { api, ApiError, SLOW } from "./api.js";
import { $, el, announce, publishJob, short } from "./dom.js";

export const types = [];
let submitting = false;
/** The Idempotency-Key of the submission in flight; kept when no answer came back, so a retry cannot make a second job. */
let pending = null;

/** A property schema with $ref / allOf / Optional (anyOf with null) folded in. */
function resolve(schema, prop) {
  const ref = prop.$ref || (prop.allOf?.length === 1 && prop.allOf[0].$ref);
  const base = ref ? schema.$defs?.[ref.split("/").pop()] : (prop.anyOf || prop.oneOf || []).find((a) => a.type !== "null");
  if (!base) return prop;
  const { $ref, allOf, anyOf, oneOf, ...rest } = prop;
  return { ...resolve(schema, base), ...rest };
}

/** Units a property name may end in, shown in brackets: duration_ms reads "Duration (ms)". */
const UNITS = { ms: "ms", s: "s", sec: "s", secs: "s", seconds: "seconds", minutes: "minutes", hours: "hours",
  days: "days", bytes: "bytes", kb: "KB", mb: "MB", gb: "GB", pct: "%", percent: "%" };
const ACRONYMS = { id: "ID", ids: "IDs", url: "URL", urls: "URLs", api: "API", http: "HTTP", iso: "ISO", json: "JSON",
  ip: "IP", uuid: "UUID", utc: "UTC" };

/** A property name as a label: snake_case or camelCase words as a sentence, a unit in brackets. */
export function humanize(name) {
  const words = String(name).replace(/([a-z0-9])([A-Z])/g, "$1_$2").split(/[_\s-]+/).filter(Boolean).map((w) => w.toLowerCase());
  const unit = words.length > 1 && UNITS[words.at(-1)] ? UNITS[words.pop()] : null;
  const text = words.map((w) => ACRONYMS[w] || w).join(" ");
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return unit ? `${sentence} (${unit})` : sentence;
}

/** The title pydantic makes up from a field name when none is given ("Duration Ms"): not a real title. */
const madeUpTitle = (name) => name.replace(/[A-Za-z]+/g, (w) => w[0].toUpperCase() + w.slice(1).toLowerCase()).replaceAll("_", " ");

/** The schema's own title where its author wrote one, else the name made readable. */
const labelText = (name, prop) => (prop.title && prop.title !== madeUpTitle(name) ? prop.title : humanize(name));

/** One payload property's field; `ids` prefix its id, its error slot's id and its test id
 * (the Jobs form's JOB_IDS; the Schedules form has its own). */
function payloadField(name, prop, required, ids = JOB_IDS) {
  const id = `${ids.input}${name}`; // kinds: enum -> select, anything but a scalar -> JSON textarea
  const errId = `${ids.error}${name}`;
  const kind = Array.isArray(prop.enum) ? "enum" : ["string", "integer", "number", "boolean"].includes(prop.type) ? prop.type : "json";
  const numeric = kind === "integer" || kind === "number";
  const common = { id, name, required, "data-kind": kind, "data-testid": `${ids.testid}${name}`, "aria-describedby": `${id}-hint ${errId}` };
  let input;
  if (kind === "boolean") input = el("input", { ...common, type: "checkbox", checked: prop.default === true });
  else if (kind === "enum") {
    input = el("select", common, required ? null : el("option", { value: "", text: "—" }),
      prop.enum.map((v) => el("option", { value: JSON.stringify(v), text: String(v), selected: v === prop.default })));
  } else if (kind === "json") input = el("textarea", { ...common, rows: 3, placeholder: "JSON", spellcheck: "false" });
  else {
    input = el("input", {
      ...common, type: numeric ? "number" : "text", value: typeof prop.default === "object" ? undefined : prop.default,
      min: prop.minimum, max: prop.maximum, step: kind === "integer" ? 1 : numeric ? "any" : undefined,
      inputmode: kind === "integer" ? "numeric" : numeric ? "decimal" : undefined, minlength: prop.minLength, maxlength: prop.maxLength,
    });
  }
  const label = el("label", { for: id }, labelText(name, prop), required ? el("span", { class: "req", "aria-hidden": "true", text: " *" }) : null);
  const range = [prop.minimum !== undefined && `min ${prop.minimum}`, prop.maximum !== undefined && `max ${prop.maximum}`].filter(Boolean);
  const hint = [prop.description, range.join(", ")].filter(Boolean).join(" — ");
  return el("div", { class: kind === "boolean" ? "field check" : "field" },
    kind === "boolean" ? [input, label] : [label, input],
    el("p", { id: `${id}-hint`, class: "hint", text: hint }),
    el("p", { id: errId, class: "field-error", "data-for": id }));
}

const JOB_IDS = { input: "f-", error: "err-payload.", testid: "field-" };

/** The payload fields of `jobType` (from its JSON Schema) into `container`. Shared by the
 * Jobs form and the Schedules form (a schedule's job template). */
export function renderPayloadFields(container, jobType, ids = JOB_IDS) {
  const type = types.find((t) => t.job_type === jobType);
  const schema = type?.payload_schema || {};
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, prop]) => payloadField(name, resolve(schema, prop), required.has(name), ids));
  container.replaceChildren(...(fields.length ? fields : [el("p", { class: "hint", text: "This job type takes no payload." })]));
  return type;
}

function renderFields() {
  clearErrors();
  const type = renderPayloadFields($("#payload-fields"), $("#job-type").value);
  $("#job-type-hint").textContent = type?.description || "";
}

/** The payload from the fields `renderPayloadFields` made, plus the errors found before
 * sending (each naming `${field}.${name}`). */
export function collectPayload(container, field = "payload") {
  const [payload, problems] = [{}, []];
  for (const input of container.querySelectorAll("[data-kind]")) {
    const { kind } = input.dataset;
    const name = `${field}.${input.name}`;
    if (kind === "boolean") payload[input.name] = input.checked;
    else if (input.validity.badInput) problems.push({ field: name, message: "Enter a number." });
    else if (input.value.trim() === "") continue;
    else if (kind === "integer" || kind === "number") payload[input.name] = Number(input.value);
    else if (kind === "string") payload[input.name] = input.value;
    else try { payload[input.name] = JSON.parse(input.value); } catch { problems.push({ field: name, message: "Enter valid JSON." }); }
  }
  return { payload, problems };
}

/** The request body from the form, plus the errors found before sending. */
function collect() {
  const { payload, problems } = collectPayload($("#payload-fields"));
  const body = { job_type: $("#job-type").value, payload, priority: $("#priority").value };
  for (const [selector, key] of [["#max-attempts", "max_attempts"], ["#delay", "delay_seconds"], ["#timeout", "timeout_seconds"]]) {
    const input = $(selector);
    if (input.validity.badInput) problems.push({ field: key, message: "Enter a number." });
    else if (input.value.trim() !== "") body[key] = Number(input.value);
  }
  if ($("#callback-url").value.trim() !== "") body.callback_url = $("#callback-url").value.trim();
  return { body, problems };
}

export function clearFieldErrors(form, summaryBox) {
  for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  summaryBox.replaceChildren();
}

const clearErrors = () => clearFieldErrors($("#submit-form"), $("#form-error"));
const showErrors = (summary, errors) => showFieldErrors($("#submit-form"), $("#form-error"), summary, errors);

/** Each {field, message} next to its field, in the slot with id `${prefix}${field}`
 * ("payload.a.b" falls back to "payload.a", then "payload"); the rest in `summaryBox`. */
export function showFieldErrors(form, summaryBox, summary, errors, prefix = "err-") {
  clearFieldErrors(form, summaryBox);
  const elsewhere = [];
  let first = null;
  for (const { field = "", message } of errors) {
    let slot = null;
    const parts = field.split(".");
    while (parts.length && !(slot = document.getElementById(`${prefix}${parts.join(".")}`))) parts.pop();
    if (!slot) { elsewhere.push(`${field || "request"}: ${message}`); continue; }
    const text = parts.join(".") === field ? message : `${field}: ${message}`;
    slot.textContent = slot.textContent ? `${slot.textContent} ${text}` : text;
    const input = slot.dataset.for && document.getElementById(slot.dataset.for);
    if (input) { input.setAttribute("aria-invalid", "true"); first ??= input; }
  }
  summaryBox.append(el("p", { text: summary }), elsewhere.length ? el("ul", {}, elsewhere.map((t) => el("li", { text: t }))) : null);
  first?.focus();
}

export const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join(""));

async function onSubmit(event) {
  event.preventDefault();
  if (submitting) return; // a double click sends once
  const { body, problems } = collect();
  if (problems.length) return showErrors("Please correct the marked fields.", problems);
  const text = JSON.stringify(body);
  if (pending?.text !== text) pending = { text, key: newKey() }; // same body after a lost answer: same key
  submitting = true;
  $("#submit-form").setAttribute("aria-busy", "true");
  try {
    const { data: job, status } = await api("/jobs", { method: "POST", body, headers: { "Idempotency-Key": pending.key } });
    pending = null;
    clearErrors();
    publishJob(job);
    announce(`Job ${short(job.job_id)} (${job.job_type}) ${status === 200 ? "was already submitted" : "submitted"}: ${job.state}.`);
    location.hash = `#/jobs/${encodeURIComponent(job.job_id)}`; // the new job opens
  } catch (error) {
    if (error.status) pending = null; // the server answered: this body did not make a job
    const summary = !error.status ? `Not submitted: ${error.message}. Submitting again is safe.`
      : error.status === 422 || error.status === 400 ? "Not submitted: the server refused some fields."
      : error.status === 429 ? `Not submitted: ${error.message}`
      : `Not submitted: ${error.message}`;
    showErrors(summary, error.problem?.errors || []);
  } finally {
    submitting = false;
    $("#submit-form").removeAttribute("aria-busy");
  }
}

/** Load the job types into the form and into every type filter. */
export async function loadTypes(onLoaded) {
  try {
    const { data } = await api("/job-types");
    types.splice(0, types.length, ...data.items);
    const options = () => types.map((t) => el("option", { value: t.job_type, text: t.job_type }));
    $("#job-type").replaceChildren(...options());
    for (const filter of document.querySelectorAll("select[data-testid$='filter-type']")) filter.append(...options());
    renderFields();
    document.dispatchEvent(new CustomEvent("dtq:types"));
    onLoaded?.();
  } catch (error) {
    showErrors(`Could not load the job types (${error instanceof ApiError ? error.message : error}); retrying…`, []);
    setTimeout(() => loadTypes(onLoaded), SLOW);
  }
}

export function startForm() {
  $("#submit-form").addEventListener("submit", onSubmit);
  $("#job-type").addEventListener("change", renderFields);
}
