// The console's live link: the WebSocket API with the session's token, reopened by itself
// after any drop (server close, network loss, expired token), with a growing pause so a
// hospital-wide outage is not hammered. Every (re)open calls `onOpen`, where the console
// reads the open cases over HTTP: pushes sent while it was away are caught up that way.
//
// A connection lasts as long as its token: shortly before the token runs out, the session
// is refreshed and the connection renewed with the fresh token ({"action": "renew"}).
import {api, keepSession, session} from "../shared/api.js";

const PAUSES_MS = [500, 1000, 2000, 4000, 8000];  // then 8 s between tries
const RENEW_AHEAD_MS = 60_000;

function tokenExpiry(token) {
  try {
    const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    return claims.exp * 1000;
  } catch { return null; }
}

export class LiveLink {
  constructor(url, {onMessage, onOpen, onStatus}) {
    Object.assign(this, {url, onMessage, onOpen, onStatus});
    this.socket = null;
    this.tries = 0;
    this.retry = null;
    this.renewal = null;
    this.opening = false;
    this.stopped = false;
    // The browser knows first when the network goes: close at once rather than wait for a
    // timeout, and try again as soon as it is back.
    window.addEventListener("offline", () => this.drop());
    window.addEventListener("online", () => this.reconnectNow());
  }

  get connected() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  async open() {
    if (this.stopped || this.socket || this.opening) return;
    clearTimeout(this.retry);
    this.retry = null;
    this.onStatus(false);
    // One authenticated call first: it refreshes an expired session (api.js), so the
    // handshake carries a token the server accepts.
    this.opening = true;
    try { await api("GET", "/auth/me"); } catch { /* offline: the socket fails too, and we retry */ }
    finally { this.opening = false; }
    if (this.stopped || this.socket) return;
    const token = session()?.access_token;
    if (!token) return;  // signed out: the console shows the sign-in
    const socket = new WebSocket(`${this.url}?token=${encodeURIComponent(token)}`);
    this.socket = socket;
    socket.onopen = () => {
      this.tries = 0;
      this.onStatus(true);
      this.scheduleRenewal(token);
      this.onOpen();
    };
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      this.onMessage(message);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearTimeout(this.renewal);
      this.onStatus(false);
      this.scheduleRetry();
    };
  }

  scheduleRetry() {
    if (this.stopped || this.retry) return;
    const pause = PAUSES_MS[Math.min(this.tries, PAUSES_MS.length - 1)];
    this.tries += 1;
    this.retry = setTimeout(() => { this.retry = null; this.open(); }, pause);
  }

  scheduleRenewal(token) {
    clearTimeout(this.renewal);
    const expiry = tokenExpiry(token);
    if (!expiry) return;
    this.renewal = setTimeout(() => this.renew(), Math.max(expiry - Date.now() - RENEW_AHEAD_MS, 5_000));
  }

  async renew() {
    try {
      const fresh = await api("POST", "/auth/refresh", {refresh_token: session()?.refresh_token});
      keepSession(fresh);
      this.socket?.send(JSON.stringify({action: "renew", token: fresh.access_token}));
      this.scheduleRenewal(fresh.access_token);
    } catch {
      this.drop();  // reopened with whatever session is left, or the sign-in shows
    }
  }

  // Close now (the network is gone, or the renewal failed); the close handler retries.
  drop() {
    const socket = this.socket;
    if (!socket) return;
    socket.close();
    socket.onclose();  // at once: the browser may take its time to report the close
  }

  reconnectNow() {
    this.tries = 0;
    clearTimeout(this.retry);
    this.retry = null;
    if (!this.socket) this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retry);
    clearTimeout(this.renewal);
    this.socket?.close();
  }
}
