// The HTTP API, and the poller every live view uses.
import { $, announce } from "./dom.js";

export const BASE = (document.querySelector('meta[name="dtq-api-base"]')?.content || "/api").replace(/\/+$/, "");
const API = `${BASE}/v1`;

export const TERMINAL = new Set(["completed", "failed", "cancelled"]);
export const CANCELLABLE = new Set(["queued", "scheduled", "retrying", "running"]);
/** Poll delays (ms): while things change (progress shows within about a second), and the longest. */
export const [FAST, SLOW] = [1000, 5000];

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || (status ? `HTTP ${status}` : "the API cannot be reached"));
    this.status = status;
    this.problem = problem || {};
  }
}

// --- API key: where the server requires one (DTQ_REQUIRE_API_KEYS), the page asks for
// it on the first 401 and keeps it for this tab only (sessionStorage).
const KEY = "dtq-api-key";
export const authHeaders = () => (sessionStorage.getItem(KEY) ? { Authorization: `Bearer ${sessionStorage.getItem(KEY)}` } : {});

function askForKey(problem) {
  const form = $("#key-form");
  if (!form.hidden) return;
  form.hidden = false;
  $("#key-message").textContent = sessionStorage.getItem(KEY)
    ? `The API refused this key (${problem?.detail || "401"}). Enter another.` : "This server needs an API key.";
  announce("The API needs an API key: enter it at the top of the page.");
  $("#api-key").focus();
}

export function startKeyForm() {
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("#api-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    $("#api-key").value = "";
    $("#key-form").hidden = true;
    $("#forget-key").hidden = false;
    announce("API key saved for this tab.");
    for (const p of pollers) p.reset();
    document.dispatchEvent(new CustomEvent("dtq:key"));
  });
  $("#forget-key").hidden = !sessionStorage.getItem(KEY);
  $("#forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    $("#forget-key").hidden = true;
    announce("API key forgotten.");
    for (const p of pollers) p.reset();
  });
}

/** JSON from the API: {status, data, etag}; 304 gives {status: 304}; errors throw ApiError. */
export async function api(path, { method = "GET", body, etag, headers: extra = {} } = {}) {
  const headers = { Accept: "application/json, application/problem+json", ...authHeaders(), ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-None-Match"] = etag;
  const init = { method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body) };
  const response = await fetch(API + path, init).catch(() => { throw new ApiError(0); });
  setOnline(true);
  if (response.status === 304) return { status: 304 };
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401) askForKey(data);
  if (!response.ok) throw new ApiError(response.status, data);
  return { status: response.status, data, etag: response.headers.get("ETag") };
}

let online = true;
export function setOnline(now, error) {
  if (now === online) return;
  online = now;
  $("#health").textContent = now ? "API reachable" : `API unreachable (${error?.message || "no answer"}); retrying…`;
  announce(now ? "Connection to the API restored." : "Lost the connection to the API; retrying.");
}

/** While push (SignalR) delivers changes, polls are only a safety net. */
let pushing = false;
const pollers = new Set();
export function setPushing(on) {
  pushing = on;
  if (!on) for (const p of pollers) p.now(); // catch up on what push may have missed
}

/**
 * Polls one resource with If-None-Match. The delay is FAST while `isLive()` says
 * something is moving or the answer just changed, and grows by half (up to SLOW) with
 * each unchanged answer (304). Stale answers (after a newer request or stop()) are dropped.
 */
export class Poller {
  constructor(path, onData, { isLive = () => false, onError = () => {} } = {}) {
    Object.assign(this, { path, onData, isLive, onError, etag: null, delay: FAST, timer: 0, seq: 0, running: false });
  }

  start() {
    if (!this.running) { this.running = true; pollers.add(this); }
    this.now();
  }

  stop() {
    this.running = false;
    pollers.delete(this);
    clearTimeout(this.timer);
    this.seq++;
  }

  /** Poll at once (after a change this page made) and go back to the fast pace. */
  now() {
    if (!this.running) return;
    this.delay = FAST;
    this.tick();
  }

  /** Forget the ETag: the next answer is a full one (new filters, new path). */
  reset(path) {
    if (path !== undefined) this.path = path;
    this.etag = null;
    this.now();
  }

  async tick() {
    clearTimeout(this.timer);
    const seq = ++this.seq;
    const sentAt = performance.now();
    const path = typeof this.path === "function" ? this.path() : this.path;
    try {
      const response = await api(path, { etag: this.etag });
      if (seq !== this.seq) return;
      if (response.status === 304) this.delay = this.isLive() && !pushing ? FAST : Math.min(this.delay * 1.5, SLOW);
      else {
        this.etag = response.etag;
        const keepGoing = this.onData(response.data, sentAt);
        // "unchanged": a resource that answers no 304 but came back the same slows down as one would.
        this.delay = keepGoing === "unchanged" ? Math.min(this.delay * 1.5, SLOW) : pushing ? SLOW : FAST;
        if (keepGoing === false) return this.stop();
      }
    } catch (error) {
      if (seq !== this.seq) return;
      if (!error.status) setOnline(false, error);
      if (this.onError(error) === false) return this.stop();
      this.delay = SLOW;
    }
    if (!document.hidden && this.running) this.timer = setTimeout(() => this.tick(), this.delay);
  }
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) for (const p of pollers) p.now();
});
