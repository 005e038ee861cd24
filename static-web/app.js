// dtq web UI: submit jobs, watch them progress, manage failures, see the whole queue.
// Plain ES modules, no build step and no dependencies (the SignalR client is vendored
// and only loaded where the API offers push). Every request goes to the API's origin.
import { api, ApiError, startKeyForm } from "./js/api.js";
import { $ } from "./js/dom.js";
import { closeDetail, openDetail, startDetail } from "./js/detail.js";
import { failuresView, startFailures } from "./js/failures.js";
import { loadTypes, startForm } from "./js/form.js";
import { jobsView, setFilters, startJobs } from "./js/jobs.js";
import { overviewView } from "./js/overview.js";
import { closeSchedule, openSchedule, schedulesView, startSchedules } from "./js/schedules.js";
import { startPush } from "./js/push.js";

const VIEWS = { jobs: jobsView, failures: failuresView, schedules: schedulesView, overview: overviewView };
const TITLES = { jobs: "Jobs", failures: "Failures", schedules: "Schedules", overview: "Overview" };
let current = null;

/** #/jobs[?state=&type=], #/jobs/{id}, #/failures, #/schedules, #/schedules/{id}, #/overview */
function route() {
  const [, name = "jobs", id, query] = location.hash.match(/^#\/(jobs|failures|schedules|overview)(?:\/([^?]*))?(?:\?(.*))?$/) || [];
  const switched = current !== name;
  if (switched) {
    current && VIEWS[current].hide();
    for (const view of Object.keys(VIEWS)) $(`#view-${view}`).hidden = view !== name;
    for (const link of document.querySelectorAll("nav a")) {
      if (link.dataset.view === name) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
    VIEWS[name].show();
    document.title = `dtq — ${TITLES[name]}`;
  }
  if (name === "jobs" && query !== undefined) {
    const params = new URLSearchParams(query);
    setFilters({ state: params.get("state") || "", type: params.get("type") || "" });
  }
  if (name === "jobs" && id) openDetail(decodeURIComponent(id));
  else closeDetail({ focus: !switched });
  if (name === "schedules" && id) openSchedule(decodeURIComponent(id));
  else if (name === "schedules") closeSchedule();
  if (switched && current !== null && !id) $(`#${name}-title`)?.focus();
  current = name;
}

async function checkHealth() {
  const health = await api("/healthz").catch((error) => error); // 503 carries the report with the failing checks
  const down = Object.entries(health.problem?.checks || {}).filter(([, c]) => !c.ok).map(([name]) => name);
  $("#health").textContent = !(health instanceof ApiError) ? "API reachable"
    : down.length ? `API degraded: ${down.join(", ")} unavailable` : `API unreachable (${health.message})`;
}

startKeyForm();
startForm();
startJobs();
startDetail();
startFailures();
startSchedules();
window.addEventListener("hashchange", route);
checkHealth();
loadTypes(() => { if (location.hash.includes("type=")) route(); });
route();
startPush();
