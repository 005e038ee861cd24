// The overview: jobs by state, the dead-letter queue, queue depth per priority,
// completions per minute over the last hour, and (local host) the worker processes.
import { Poller } from "./api.js";
import { $, el, svg, table, time } from "./dom.js";
import { setNavCount } from "./failures.js";

const STATES = ["queued", "scheduled", "running", "retrying", "completed", "failed", "cancelled"];
const poller = new Poller("/stats", render);

function card(label, value, href, testid) {
  return el("li", { class: "card", "data-testid": testid },
    el("a", { href }, el("span", { class: "card-value", "data-testid": `${testid}-value`, text: value.toLocaleString() }), el("span", { class: "card-label", text: label })));
}

/** Bars of completions per minute; the same figures are in a table below it. */
function chart(points) {
  // Drawn at the container's own width, so the labels are not stretched.
  const [width, height, pad] = [Math.max(320, Math.round($("#throughput").clientWidth) || 600), 150, 24];
  const peak = Math.max(1, ...points.map((p) => p.completed));
  const total = points.reduce((n, p) => n + p.completed, 0);
  const barWidth = (width - pad) / points.length;
  const hhmm = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const busiest = points.reduce((a, b) => (b.completed > a.completed ? b : a), points[0]);
  const label = total ? `${total} jobs completed in the last hour; at most ${busiest.completed} in a minute, at ${hhmm(busiest.minute)}.` : "No job completed in the last hour.";
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label, "data-total": total },
    svg("title", { text: label }),
    svg("line", { x1: pad, y1: height - pad, x2: width, y2: height - pad, class: "axis" }),
    svg("text", { x: 0, y: 12, class: "tick", text: String(peak) }),
    svg("text", { x: 0, y: height - pad, class: "tick", text: "0" }),
    svg("text", { x: pad, y: height - 4, class: "tick", text: hhmm(points[0].minute) }),
    svg("text", { x: width, y: height - 4, class: "tick end", text: hhmm(points.at(-1).minute) }),
    points.map((p, i) => {
      const h = ((height - pad - 16) * p.completed) / peak;
      return svg("rect", { x: pad + i * barWidth + 1, y: height - pad - h, width: Math.max(1, barWidth - 2), height: h, class: "bar" },
        svg("title", { text: `${hhmm(p.minute)}: ${p.completed}` }));
    }));
}

/** The pauses in force (docs/pauses.md): whose jobs are held, since when, by whom, why. */
function renderPauses(pauses) {
  $("#pauses").hidden = !pauses.length;
  $("#pauses").replaceChildren(
    el("strong", { text: "Paused: their jobs stay queued, no attempt spent, until resumed." }),
    el("ul", {}, ...pauses.map((p) => el("li", { "data-testid": "pause" },
      `${p.kind === "job_type" ? "job type" : "priority"} `, el("code", { text: p.value }),
      p.tenant ? ` (this tenant's jobs)` : " (every tenant's jobs)", " since ", time(p.since),
      p.by ? ` by ${p.by}` : "", p.reason ? ` (${p.reason})` : ""))));
}

function render(stats) {
  const byState = stats.jobs.by_state;
  $("#state-cards").replaceChildren(
    card("jobs", stats.jobs.total, "#/jobs?state=&type=", "card-total"),
    ...STATES.map((s) => card(s, byState[s] || 0, `#/jobs?state=${s}`, `card-${s}`)),
    card("in the dead-letter queue", stats.dead_letter.jobs, "#/failures", "card-dlq"),
    card("completed in the last hour", stats.completed_last_hour, "#/jobs?state=completed", "card-last-hour"));
  setNavCount(stats.dead_letter.jobs);
  renderPauses(stats.pauses || []);
  $("#stats-note").textContent = [
    stats.dead_letter.messages ? `${stats.dead_letter.messages} message(s) dead-lettered by the queue itself (see Failures).` : "",
    stats.truncated ? "Counts stop at the store's scan limit: the real figures are higher." : "",
    `As of ${new Date(stats.at).toLocaleTimeString()}.`,
  ].filter(Boolean).join(" ");

  $("#throughput").replaceChildren(chart(stats.completed_per_minute));
  const busy = stats.completed_per_minute.filter((p) => p.completed);
  $("#throughput-table").replaceChildren(busy.length
    ? table(["Minute", "Completed"], busy.map((p) => [time(p.minute), String(p.completed)]))
    : el("p", { class: "hint", text: "No completions in the last hour." }));

  // Queues and workers are shared by every tenant: only the operator sees them.
  const shared = stats.scope !== "tenant";
  const operatorOnly = "Queues and worker processes are shared by every tenant and shown to the operator only; your waiting jobs are in the counts above.";
  $("#queues").replaceChildren(shared
    ? table(["Priority", "Queue", "Ready", "Scheduled", "Dead-lettered"],
      Object.entries(stats.queues).map(([priority, q]) => [priority, el("code", { text: q.queue }), String(q.active), String(q.scheduled), String(q.dead_lettered)]),
      { "data-testid": "queues-table" })
    : el("p", { class: "hint", "data-testid": "operator-only", text: operatorOnly }));

  const types = Object.entries(stats.jobs.by_type).sort(([a], [b]) => a.localeCompare(b));
  $("#by-type").replaceChildren(types.length
    ? table(["Type", ...STATES], types.map(([type, counts]) => [type, ...STATES.map((s) => String(counts[s] || 0))]))
    : el("p", { class: "hint", text: "No jobs yet." }));

  $("#workers").replaceChildren(!shared
    ? el("p", { class: "hint", text: "Shown to the operator only." })
    : !stats.workers
    ? el("p", { class: "hint", text: "Worker processes are listed on the local host. On Azure Functions the platform scales workers; see Application Insights." })
    : !stats.workers.length ? el("p", { class: "hint", text: "No worker process has reported in the last minute." })
    : table(["Worker", "PID", "Host", "Queues", "Running now", "Jobs run", "Started", "Last seen"],
      stats.workers.map((w) => [el("code", { text: w.worker_id }), String(w.pid), w.hostname, w.queues.join(", "),
        String(w.in_flight), String(w.invocations), time(w.started_at), time(w.last_seen)]), { "data-testid": "workers-table" }));
}

export const overviewView = { show: () => poller.start(), hide: () => poller.stop() };
