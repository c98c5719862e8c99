// @tokenmint/client against the real tokenmint binary and its Appwrite stand-in.
// Every test opens its own tokenmint session with one exchange (the per-user exchange limit
// is 60 an hour; this file makes about ten).
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";

import { MemoryStorage, TokenmintClient, TokenmintError } from "../dist/index.js";
import {
  adminRevoke,
  assertTools,
  countingFetch,
  expireSoon,
  jwtPayload,
  skipReason,
  startProxy,
  startTokenmint,
} from "./harness.mjs";

const CLIENT_ID = "ts-test";
const KEY = `tokenmint.tokens:${CLIENT_ID}`;

describe("against tokenmint", { skip: skipReason() }, () => {
  let tm;
  const closers = [];

  before(async () => {
    assertTools();
    tm = await startTokenmint();
  });
  after(async () => {
    for (const close of closers) await close();
    await tm?.stop();
  });

  /** A signed-in storage whose access token expires within the leeway. */
  async function expiringSession() {
    const storage = new MemoryStorage();
    const first = new TokenmintClient({ issuer: tm.url, clientId: CLIENT_ID, storage });
    await first.signIn({ appwriteJwt: tm.appwriteJwt });
    const record = await expireSoon(storage, KEY);
    return { storage, record };
  }

  async function proxy(decide) {
    const p = await startProxy(tm.url, decide);
    closers.push(p.close);
    return p;
  }

  test("50 concurrent getAccessToken calls on an expiring token make exactly one refresh", async () => {
    const { storage, record } = await expiringSession();
    const counter = countingFetch();
    const client = new TokenmintClient({ issuer: tm.url, clientId: CLIENT_ID, storage, fetch: counter.fetch });
    const tokens = await Promise.all(Array.from({ length: 50 }, () => client.getAccessToken()));
    assert.equal(counter.refreshes, 1);
    assert.equal(new Set(tokens).size, 1);
    assert.notEqual(tokens[0], record.accessToken);
    assert.equal(await client.getAccessToken(), tokens[0], "the new token is used, not refreshed again");
    assert.equal(counter.refreshes, 1);
    // The chain lives on: a later refresh works.
    await expireSoon(storage, KEY);
    const later = new TokenmintClient({ issuer: tm.url, clientId: CLIENT_ID, storage, fetch: counter.fetch });
    assert.notEqual(await later.getAccessToken(), tokens[0]);
    assert.equal(counter.refreshes, 2);
  });

  test("a dropped refresh answer is retried with the same refresh token and gets the same successor", async () => {
    const { storage, record } = await expiringSession();
    let dropped = 0;
    const p = await proxy((req) => {
      if (req.params.grant_type === "refresh_token" && dropped === 0) {
        dropped++;
        return "drop";
      }
      return "forward";
    });
    const client = new TokenmintClient({ issuer: p.url, clientId: CLIENT_ID, storage });
    const ended = [];
    client.on("sessionEnded", (reason) => ended.push(reason));
    const token = await client.getAccessToken();

    const [lost, retry] = p.refreshes();
    assert.equal(p.refreshes().length, 2);
    assert.equal(lost.decision, "drop");
    assert.equal(lost.status, 200, "tokenmint did rotate on the lost request");
    assert.equal(lost.params.refresh_token, record.refreshToken);
    assert.equal(retry.params.refresh_token, record.refreshToken, "retried with the SAME refresh token");
    assert.equal(retry.answer.refresh_token, lost.answer.refresh_token, "grace window: the same successor");
    const stored = JSON.parse(await storage.get(KEY));
    assert.equal(stored.refreshToken, lost.answer.refresh_token);
    assert.equal(stored.accessToken, token);

    // The session lives on: a later refresh with the successor works.
    await expireSoon(storage, KEY);
    const later = new TokenmintClient({ issuer: p.url, clientId: CLIENT_ID, storage });
    assert.notEqual(await later.getAccessToken(), token);
    assert.deepEqual(ended, []);
  });

  test("a 503 storm with Retry-After is waited out and the session survives", async () => {
    const { storage, record } = await expiringSession();
    let stormEnds = null;
    const p = await proxy((req) => {
      if (req.params.grant_type !== "refresh_token") return "forward";
      stormEnds ??= Date.now() + 2500;
      if (Date.now() < stormEnds) {
        return {
          status: 503,
          headers: { "retry-after": "1" },
          body: JSON.stringify({ error: "temporarily_unavailable", error_description: "try again" }),
        };
      }
      return "forward";
    });
    const client = new TokenmintClient({ issuer: p.url, clientId: CLIENT_ID, storage });
    const token = await client.getAccessToken();
    const attempts = p.refreshes();
    const refused = attempts.filter((a) => a.decision.status === 503);
    assert.ok(refused.length >= 2, `several 503s were served (${refused.length})`);
    assert.equal(attempts.length, refused.length + 1, "then one forwarded refresh");
    for (const a of attempts) assert.equal(a.params.refresh_token, record.refreshToken);
    for (let i = 1; i < attempts.length; i++) {
      assert.ok(attempts[i].at - attempts[i - 1].at >= 950, "Retry-After: 1 is honoured");
    }
    assert.equal(JSON.parse(await storage.get(KEY)).accessToken, token);
    await expireSoon(storage, KEY);
    const later = new TokenmintClient({ issuer: p.url, clientId: CLIENT_ID, storage });
    assert.notEqual(await later.getAccessToken(), token, "refreshes afterwards");
  });

  test("retries are bounded: a retryable error, and the session is kept", async () => {
    const { storage, record } = await expiringSession();
    const p = await proxy((req) =>
      req.params.grant_type === "refresh_token"
        ? { status: 503, headers: { "retry-after": "0" }, body: '{"error":"temporarily_unavailable"}' }
        : "forward",
    );
    const client = new TokenmintClient({ issuer: p.url, clientId: CLIENT_ID, storage, maxRefreshAttempts: 3 });
    const ended = [];
    client.on("sessionEnded", (reason) => ended.push(reason));
    await assert.rejects(client.getAccessToken(), (err) => {
      assert.ok(err instanceof TokenmintError);
      assert.equal(err.code, "temporarily_unavailable");
      assert.equal(err.retryable, true);
      return true;
    });
    assert.equal(p.refreshes().length, 3);
    assert.equal(JSON.parse(await storage.get(KEY)).refreshToken, record.refreshToken, "session kept");
    assert.deepEqual(ended, []);
    // Once tokenmint answers again, the same client refreshes.
    const direct = new TokenmintClient({ issuer: tm.url, clientId: CLIENT_ID, storage });
    assert.notEqual(await direct.getAccessToken(), record.accessToken);
  });

  test("a revoked session ends once with 'revoked' and is never refreshed again", async () => {
    const { storage, record } = await expiringSession();
    await adminRevoke(tm, jwtPayload(record.accessToken).sid);
    const counter = countingFetch();
    const client = new TokenmintClient({ issuer: tm.url, clientId: CLIENT_ID, storage, fetch: counter.fetch });
    const ended = [];
    client.on("sessionEnded", (reason) => ended.push(reason));
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => client.getAccessToken()));
    for (const r of results) {
      assert.equal(r.status, "rejected");
      assert.equal(r.reason.code, "session_ended");
    }
    assert.deepEqual(ended, ["revoked"]);
    assert.equal(await storage.get(KEY), null, "storage cleared");
    for (let i = 0; i < 3; i++) await assert.rejects(client.getAccessToken(), { code: "session_ended" });
    await assert.rejects(client.fetch(`${tm.url}/v1/me/sessions`), { code: "session_ended" });
    assert.equal(counter.refreshes, 1, "no further refresh requests");
    assert.equal(counter.requests, 1);
    assert.deepEqual(ended, ["revoked"]);
  });

  test("the new refresh token is in storage when getAccessToken resolves", async () => {
    const { storage: inner, record } = await expiringSession();
    const slow = {
      get: (key) => inner.get(key),
      set: (key, value) => new Promise((resolve) => setTimeout(() => resolve(inner.set(key, value)), 300)),
      remove: (key) => inner.remove(key),
    };
    const client = new TokenmintClient({ issuer: tm.url, clientId: CLIENT_ID, storage: slow });
    const token = await client.getAccessToken();
    const stored = JSON.parse(inner.get(KEY));
    assert.notEqual(stored.refreshToken, record.refreshToken);
    assert.equal(stored.accessToken, token);
  });

  test("fetch adds the bearer token, and on a 401 refreshes once and retries once", async () => {
    const { storage, record } = await expiringSession();
    await expireSoon(storage, KEY, 3_600_000); // valid: the 401 forces the refresh
    const seen = [];
    const api = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      const ok = req.headers.authorization !== `Bearer ${record.accessToken}`;
      res.writeHead(ok ? 200 : 401).end(ok ? "ok" : "");
    });
    await new Promise((r) => api.listen(0, "127.0.0.1", r));
    closers.push(() => new Promise((r) => api.close(r)));
    const counter = countingFetch();
    const client = new TokenmintClient({ issuer: tm.url, clientId: CLIENT_ID, storage, fetch: counter.fetch });
    const res = await client.fetch(`http://127.0.0.1:${api.address().port}/orders`, { headers: { "X-Test": "1" } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
    assert.equal(seen.length, 2);
    assert.equal(seen[0], `Bearer ${record.accessToken}`);
    assert.equal(seen[1], `Bearer ${await client.getAccessToken()}`);
    assert.equal(counter.refreshes, 1);
  });

  test("signOut revokes the session at tokenmint, clears storage and emits signedOut", async () => {
    const { storage, record } = await expiringSession();
    const client = new TokenmintClient({ issuer: tm.url, clientId: CLIENT_ID, storage });
    const ended = [];
    client.on("sessionEnded", (reason) => ended.push(reason));
    await client.signOut();
    assert.deepEqual(ended, ["signedOut"]);
    assert.equal(await storage.get(KEY), null);
    await assert.rejects(client.getAccessToken(), { code: "not_signed_in" });
    const res = await fetch(`${tm.url}/oauth/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: record.refreshToken, client_id: CLIENT_ID }),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, "invalid_grant");
  });
});

describe("without a server", () => {
  test("signIn sends each proof as its subject_token_type, with client_id, audience and device_name", async () => {
    const sent = [];
    const fakeFetch = async (url, init) => {
      sent.push({ url, params: Object.fromEntries(new URLSearchParams(init.body)) });
      return new Response(
        JSON.stringify({ access_token: "a", token_type: "Bearer", expires_in: 900, refresh_token: "tmr_x" }),
        { status: 200, headers: { "content-type": "application/json" } },
      );
    };
    const client = new TokenmintClient({
      issuer: "https://auth.example.com/",
      clientId: "app",
      audience: "api",
      deviceName: "Pixel",
      fetch: fakeFetch,
    });
    const proofs = [
      [{ appwriteJwt: "j" }, "urn:tokenmint:params:token-type:appwrite-jwt"],
      [{ appwriteSession: "s" }, "urn:tokenmint:params:token-type:appwrite-session"],
      [{ oauthAccessToken: "o" }, "urn:ietf:params:oauth:token-type:access_token"],
      [{ oauthIdToken: "i" }, "urn:ietf:params:oauth:token-type:id_token"],
    ];
    for (const [proof, type] of proofs) {
      await client.signIn(proof);
      const { url, params } = sent.at(-1);
      assert.equal(url, "https://auth.example.com/oauth/token");
      assert.deepEqual(params, {
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        subject_token_type: type,
        subject_token: Object.values(proof)[0],
        client_id: "app",
        audience: "api",
        device_name: "Pixel",
      });
    }
    assert.equal(await client.getAccessToken(), "a");
    await assert.rejects(client.signIn({}), TypeError);
  });

  test("a request that never answers times out and is retried", async () => {
    let calls = 0;
    const hanging = (url, init) => {
      calls++;
      return new Promise((_, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));
    };
    const storage = new MemoryStorage();
    storage.set(KEY, JSON.stringify({ v: 1, refreshToken: "tmr_r", accessToken: "a", expiresAt: Date.now() }));
    const client = new TokenmintClient({
      issuer: "https://auth.example.com",
      clientId: CLIENT_ID,
      storage,
      fetch: hanging,
      requestTimeoutSeconds: 0.05,
      maxRefreshAttempts: 2,
    });
    await assert.rejects(client.getAccessToken(), { code: "timeout", retryable: true });
    assert.equal(calls, 2);
    assert.ok(await storage.get(KEY), "session kept");
  });
});
