// Live updates pushed by Azure SignalR Service, where the API offers it (POST
// {api}/negotiate answers with a service URL and an access token). The hub sends
// "jobUpdated" with the job, as GET /jobs/{id} shows it, on every progress and state
// change. Where there is no negotiate function (the local host), the page polls.
import { authHeaders, BASE, setPushing } from "./api.js";
import { $, publishJob } from "./dom.js";

const CLIENT = "vendor/signalr/signalr.min.js"; // @microsoft/signalr, vendored: no CDN

const mode = (text) => { $("#live-mode").textContent = text; };
const POLLING = "Live updates: polling (every second while jobs run).";

/** The user id of this tab's connection: random, made here, never shown to anyone else.
 * The negotiate function adds it to this tenant's group. */
function pushId() {
  let id = sessionStorage.getItem("dtq-push-id");
  if (!id) sessionStorage.setItem("dtq-push-id", (id = crypto.randomUUID()));
  return id;
}

async function negotiate() {
  const headers = { Accept: "application/json", "x-dtq-push-id": pushId(), ...authHeaders() };
  const response = await fetch(`${BASE}/negotiate`, { method: "POST", cache: "no-store", headers });
  if (!response.ok) throw new Error(`negotiate answered ${response.status}`);
  return response.json();
}

function loadClient() {
  if (window.signalR) return Promise.resolve();
  return new Promise((resolve, reject) => {
    document.head.append(Object.assign(document.createElement("script"), { src: CLIENT, onload: resolve, onerror: () => reject(new Error("no SignalR client")) }));
  });
}

let started = false;

export async function startPush() {
  if (started) return true;
  mode(POLLING);
  let info;
  try { info = await negotiate(); } catch { return false; } // no push here: polling it is
  try {
    await loadClient();
    const { HubConnectionBuilder, LogLevel } = window.signalR;
    let first = info.accessToken; // then a fresh token for every reconnect
    const connection = new HubConnectionBuilder()
      .withUrl(info.url, { accessTokenFactory: async () => { const token = first; first = null; return token ?? (await negotiate()).accessToken; } })
      .withAutomaticReconnect()
      .configureLogging(LogLevel.Warning)
      .build();
    connection.on("jobUpdated", (job) => { if (job && job.job_id) publishJob(job, "push"); });
    connection.onreconnecting(() => { setPushing(false); mode("Live updates: reconnecting; polling meanwhile."); });
    connection.onreconnected(() => { setPushing(true); mode("Live updates: pushed (SignalR)."); });
    connection.onclose(() => { started = false; setPushing(false); mode(POLLING); });
    await connection.start();
    started = true;
    setPushing(true);
    mode("Live updates: pushed (SignalR).");
    return true;
  } catch (error) {
    mode(`${POLLING} Push is unavailable: ${error.message}.`);
    return false;
  }
}

// A server that needs a key refuses negotiate until the page has one: try again then.
document.addEventListener("dtq:key", () => { startPush(); });
