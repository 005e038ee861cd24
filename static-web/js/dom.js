// Small DOM helpers shared by every view. No framework: the page is a handful of tables.

export const $ = (selector, root = document) => root.querySelector(selector);
export const short = (id) => id.slice(-8);

/** An element with attributes ("text" sets textContent, "on<event>" adds a listener). */
export function el(tag, attrs = {}, ...children) {
  const node = tag === "svg" || attrs.xmlns === SVG ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false || key === "xmlns") continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}
export const SVG = "http://www.w3.org/2000/svg";
export const svg = (tag, attrs = {}, ...children) => el(tag, { ...attrs, xmlns: SVG }, ...children);

let announced = { text: "", at: 0, timer: 0 };
/** Say something to screen readers (and show it in the header). */
export function announce(text) {
  if (text === announced.text && Date.now() - announced.at < 5000) return; // two views saw the same change
  clearTimeout(announced.timer);
  $("#announcer").textContent = ""; // cleared first so that a repeated message is read again
  announced = { text, at: Date.now(), timer: setTimeout(() => { $("#announcer").textContent = text; }, 50) };
}

export function formatTime(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  return at.toDateString() === new Date().toDateString() ? at.toLocaleTimeString() : at.toLocaleString();
}

export const time = (iso) => (iso ? el("time", { datetime: iso, title: iso, text: formatTime(iso) }) : "—");

export const badge = (state, testid = "job-state") =>
  el("span", { class: `badge s-${state}`, "data-testid": testid, "data-state": state, text: state });

export const progressParts = (job, testid = "job-progress") => [
  el("progress", {
    max: 100, value: job.progress, role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100,
    "aria-valuenow": job.progress, "data-testid": testid, "aria-label": `Progress of job ${short(job.job_id)}`,
    "aria-valuetext": `${job.progress}%${job.stage ? `, ${job.stage}` : ""}`,
  }),
  el("span", { class: "pct", "aria-hidden": "true", text: `${job.progress}%` }),
];

/** Replace a node's children, skipping null / undefined / false (which replaceChildren would print). */
export const fill = (node, ...children) => node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));

/** A link to a job's detail view. */
export const jobLink = (job) =>
  el("a", { href: `#/jobs/${encodeURIComponent(job.job_id)}`, class: "job-link", title: job.job_id, "data-testid": "job-link" },
    el("code", { text: short(job.job_id) }));

/** A table from rows of cells; each cell is text, a node or a list of nodes. */
export function table(headings, rows, attrs = {}) {
  return el("table", attrs,
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c, i) => el("td", { "data-label": headings[i] }, c))))));
}

const humanize = (key) => String(key).replaceAll("_", " ");
const isScalar = (v) => v === null || typeof v !== "object";
const scalarText = (v) => (v === null || v === undefined ? "—" : typeof v === "number" ? v.toLocaleString() : String(v));

/** A JSON value as something a person reads: objects as definition lists, lists of
 * records as tables, lists of values as comma lists. The raw JSON stays one click away. */
export function readable(value, depth = 0) {
  if (isScalar(value)) return el("span", { class: typeof value === "string" && value.length > 80 ? "long" : undefined, text: scalarText(value) });
  if (depth > 4) return el("code", { text: JSON.stringify(value) });
  if (Array.isArray(value)) {
    if (!value.length) return el("span", { class: "hint", text: "(none)" });
    if (value.every(isScalar)) return el("span", { text: value.map(scalarText).join(", ") });
    const keys = [...new Set(value.flatMap((v) => (isScalar(v) || Array.isArray(v) ? [] : Object.keys(v))))];
    if (value.every((v) => !isScalar(v) && !Array.isArray(v)) && keys.length <= 8) {
      return el("div", { class: "table-wrap" }, table(keys.map(humanize), value.map((row) => keys.map((k) => readable(row[k], depth + 1)))));
    }
    return el("ol", {}, value.map((v) => el("li", {}, readable(v, depth + 1))));
  }
  const entries = Object.entries(value);
  if (!entries.length) return el("span", { class: "hint", text: "(empty)" });
  return el("dl", { class: "kv" }, entries.flatMap(([k, v]) => [el("dt", { text: humanize(k) }), el("dd", {}, readable(v, depth + 1))]));
}

/** Ask before a destructive action, in the page's <dialog>; resolves true on confirm. */
export function confirmAction(title, text, okLabel) {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  const returnFocus = document.activeElement;
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      // After the action the button may be gone (its row was purged): the view's heading then.
      setTimeout(() => (returnFocus?.isConnected ? returnFocus : document.querySelector(".view:not([hidden]) h2"))?.focus(), 0);
    }, { once: true });
  });
}

/** Tell every view about a job it may be showing: `source` is "local" (this page
 * submitted, cancelled or requeued it) or "push" (SignalR said it changed). */
export const publishJob = (job, source = "local") =>
  document.dispatchEvent(new CustomEvent("dtq:job", { detail: { job, source } }));
export const onJob = (handler) => document.addEventListener("dtq:job", (event) => handler(event.detail.job, event.detail.source));
