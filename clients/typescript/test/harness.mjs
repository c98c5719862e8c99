// Test harness: the real tokenmint binary (`tokenmint demo --keep-running`: tokenmint on a
// free loopback port, SQLite in a temporary directory, beside its built-in Appwrite
// stand-in), a small HTTP proxy in front of it that can drop, delay or refuse requests,
// and a counting fetch.
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import http from "node:http";

export const TOKENMINT_BIN = process.env.TOKENMINT_BIN || "/tmp/tokenmint-debug";
export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const REQUIRED = process.env.TOKENMINT_TS_CLIENT === "required";

/**
 * Why these tests cannot run here, or null. With TOKENMINT_TS_CLIENT=required a missing tool
 * is a failure, not a skip: `test(name, { skip: skipReason(...) }, fn)` then runs `fn`, which
 * calls `assertTools` first.
 */
export function missingTools({ browser = false } = {}) {
  const missing = [];
  if (!executable(TOKENMINT_BIN)) missing.push(`tokenmint binary ${TOKENMINT_BIN} (set TOKENMINT_BIN)`);
  if (browser && !executable(CHROMIUM_BIN)) missing.push(`chromium ${CHROMIUM_BIN} (set CHROMIUM_BIN)`);
  return missing.length ? `missing ${missing.join(" and ")}` : null;
}

/** The `skip` option of a test: a message, or false when the tools are there or required. */
export function skipReason(opts) {
  const missing = missingTools(opts);
  if (!missing) return false;
  if (REQUIRED) return false;
  const message = `${missing}; skipped (TOKENMINT_TS_CLIENT=required makes this a failure)`;
  console.log(`@tokenmint/client tests: ${message}`);
  return message;
}

/** Fails the test when a tool is missing (only reached with TOKENMINT_TS_CLIENT=required). */
export function assertTools(opts) {
  const missing = missingTools(opts);
  if (missing) throw new Error(`TOKENMINT_TS_CLIENT=required: ${missing}`);
}

function executable(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts `tokenmint demo --keep-running` and waits for its export lines.
 * @returns {Promise<{url: string, appwriteJwt: string, adminKey: string, stop: () => Promise<void>}>}
 */
export async function startTokenmint() {
  const child = spawn(TOKENMINT_BIN, ["demo", "--keep-running"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (chunk) => {
    err = (err + chunk).slice(-4000);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const found = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tokenmint demo: no export lines within 60 s\n${out}\n${err}`)), 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`tokenmint demo exited (${code}) before its export lines\n${out.slice(-3000)}\n${err}`));
    });
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const get = (name) => out.match(new RegExp(`^export ${name}=(\\S+)$`, "m"))?.[1];
      const url = get("TOKENMINT");
      const appwriteJwt = get("APPWRITE_JWT");
      const adminKey = get("ADMIN_KEY");
      if (url && appwriteJwt && adminKey) {
        clearTimeout(timer);
        resolve({ url, appwriteJwt, adminKey });
      }
    });
  });
  child.stdout.resume(); // keep draining
  return {
    ...found,
    async stop() {
      if (child.exitCode === null) child.kill("SIGINT");
      await exited;
    },
  };
}

/**
 * A counting wrapper around the platform's fetch: `refreshes` counts refresh-grant requests
 * to /oauth/token, `requests` every request.
 */
export function countingFetch() {
  const counter = {
    requests: 0,
    refreshes: 0,
    exchanges: 0,
    fetch: async (input, init) => {
      counter.requests++;
      const grant = grantOf(init?.body);
      if (grant === "refresh_token") counter.refreshes++;
      if (grant?.endsWith(":token-exchange")) counter.exchanges++;
      return fetch(input, init);
    },
  };
  return counter;
}

function grantOf(body) {
  if (typeof body !== "string") return undefined;
  return new URLSearchParams(body).get("grant_type") ?? undefined;
}

/**
 * An HTTP proxy in front of `target`. `decide(request)` answers, for each request
 * `{method, url, params}` (params: the form body), one of:
 * - `"forward"` (default);
 * - `"drop"`: forward to tokenmint, then close the connection instead of answering;
 * - `{status, headers, body}`: answer this without forwarding;
 * - `{delayMs}`: forward after a delay.
 * Every request is logged in `proxy.log` with its decision and tokenmint's JSON answer.
 */
export async function startProxy(target, decide = () => "forward") {
  const log = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const raw = Buffer.concat(chunks);
    const params = Object.fromEntries(new URLSearchParams(raw.toString()));
    const entry = { method: req.method, url: req.url, params, at: Date.now() };
    log.push(entry);
    const decision = (await decide(entry)) ?? "forward";
    entry.decision = decision;
    if (typeof decision === "object" && "status" in decision) {
      res.writeHead(decision.status, { "content-type": "application/json", ...decision.headers });
      res.end(decision.body ?? "");
      return;
    }
    if (typeof decision === "object" && decision.delayMs) await new Promise((r) => setTimeout(r, decision.delayMs));
    const upstream = await forward(target, req, raw);
    entry.status = upstream.status;
    try {
      entry.answer = JSON.parse(upstream.body.toString());
    } catch {
      entry.answer = null;
    }
    if (decision === "drop") {
      req.socket.destroy();
      return;
    }
    res.writeHead(upstream.status, upstream.headers);
    res.end(upstream.body);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    /** Refresh-grant requests seen so far. */
    refreshes: () => log.filter((e) => e.url === "/oauth/token" && e.params.grant_type === "refresh_token"),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

/** Forwards one buffered request to `target` and buffers the answer. */
export async function forward(target, req, raw) {
  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!["host", "connection", "content-length", "transfer-encoding", "keep-alive"].includes(name)) headers[name] = value;
  }
  const res = await fetch(target + req.url, {
    method: req.method,
    headers,
    body: req.method === "GET" || req.method === "HEAD" ? undefined : raw,
  });
  const body = Buffer.from(await res.arrayBuffer());
  const out = {};
  res.headers.forEach((value, name) => {
    if (!["connection", "content-length", "transfer-encoding", "content-encoding", "keep-alive"].includes(name)) out[name] = value;
  });
  return { status: res.status, headers: out, body };
}

/** The payload of a JWT, unverified (tests only). */
export function jwtPayload(jwt) {
  return JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
}

/** Makes the stored access token expire within the refresh leeway (in `ms`). */
export async function expireSoon(storage, key, ms = 5000) {
  const record = JSON.parse(await storage.get(key));
  record.expiresAt = Date.now() + ms;
  await storage.set(key, JSON.stringify(record));
  return record;
}

/** Revokes a session with the admin API. */
export async function adminRevoke(tm, sid) {
  const res = await fetch(`${tm.url}/admin/v1/sessions/${sid}`, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${tm.adminKey}` },
  });
  if (res.status >= 300) throw new Error(`admin DELETE answered ${res.status}: ${await res.text()}`);
}
