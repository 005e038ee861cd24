// Live updates pushed over SignalR, on both hosts: POST {api}/negotiate answers with a
// hub URL and an access token, from Azure SignalR Service in Azure and from the local
// host's own stand-in for it (dtq serve, /signalr) on one machine. The hub sends
// "jobUpdated" with the job, as GET /jobs/{id} shows it less its payload and error list,
// on every progress and state change. Polling (ETag, every second while jobs run) is
// only the fallback, where negotiate fails or the connection drops.
//
// A server without push says so once per tab: its answer (204 No Content, from a local
// host configured for Azure SignalR Service, or 404 where there is no negotiate function
// at all) is remembered in sessionStorage for this API, so reloads and later views of the
// tab ask no more (a 404 is a console error in the browser).
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

const ABSENT = `dtq-push-absent:${BASE}`;
const pushAbsent = () => sessionStorage.getItem(ABSENT) !== null;

async function negotiate() {
  const headers = { Accept: "application/json", "x-dtq-push-id": pushId(), ...authHeaders() };
  const response = await fetch(`${BASE}/negotiate`, { method: "POST", cache: "no-store", headers });
  if (response.status === 204 || response.status === 404) sessionStorage.setItem(ABSENT, String(response.status));
  if (!response.ok || response.status === 204) throw new Error(`negotiate answered ${response.status}`);
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
  if (pushAbsent()) return false; // this server said so earlier in this tab
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
