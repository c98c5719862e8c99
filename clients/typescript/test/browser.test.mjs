// @tokenmint/client in a real browser: headless Chromium driven by playwright-core, two tabs
// of one browser context sharing localStorage. A local Node server serves the test page and
// the built ESM bundle, and reverse-proxies /oauth/* to tokenmint (same origin: the demo
// sets no TOKENMINT_CORS_ORIGINS), counting the refreshes that reach tokenmint.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import http from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { assertTools, CHROMIUM_BIN, forward, skipReason, startTokenmint } from "./harness.mjs";

const DIST = fileURLToPath(new URL("../dist/", import.meta.url));
const KEY = "tokenmint.tokens:browser";
const PAGE = `<!doctype html><meta charset="utf-8"><title>tokenmint client</title>
<script type="module">
  import * as tokenmint from "/dist/index.js";
  window.tokenmint = tokenmint;
  window.ended = [];
  window.newClient = () => {
    const client = new tokenmint.TokenmintClient({
      issuer: location.origin, clientId: "browser", storage: new tokenmint.LocalStorageStorage(),
    });
    client.on("sessionEnded", (reason) => window.ended.push(reason));
    return client;
  };
  window.client = window.newClient();
  window.ready = true;
</script>`;

/** The page, the bundle, and /oauth/* proxied to tokenmint with every refresh delayed. */
async function startSite(tokenmintUrl) {
  const refreshes = [];
  const server = http.createServer(async (req, res) => {
    try {
      if (req.url === "/") {
        res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
      } else if (req.url.startsWith("/dist/")) {
        const file = normalize(join(DIST, req.url.slice("/dist/".length)));
        if (!file.startsWith(DIST)) return res.writeHead(404).end();
        const type = extname(file) === ".js" ? "text/javascript" : "application/json";
        res.writeHead(200, { "content-type": type }).end(await readFile(file));
      } else if (req.url.startsWith("/oauth/")) {
        const chunks = [];
        for await (const chunk of req) chunks.push(chunk);
        const raw = Buffer.concat(chunks);
        const params = new URLSearchParams(raw.toString());
        if (params.get("grant_type") === "refresh_token") {
          refreshes.push(params.get("refresh_token"));
          // Hold the refresh so a second tab that did not wait its turn would surely overlap.
          await new Promise((r) => setTimeout(r, 300));
        }
        const upstream = await forward(tokenmintUrl, req, raw);
        res.writeHead(upstream.status, upstream.headers).end(upstream.body);
      } else {
        res.writeHead(404).end();
      }
    } catch (err) {
      res.writeHead(502).end(String(err));
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    refreshes,
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  };
}

async function loadChromium() {
  try {
    const { chromium } = await import("playwright-core");
    return chromium;
  } catch (err) {
    throw new Error(`playwright-core is not installed (run npm ci in clients/typescript): ${err.message}`);
  }
}

describe("in Chromium, two tabs", { skip: skipReason({ browser: true }) }, () => {
  let tm, site, browser;

  before(async () => {
    assertTools({ browser: true });
    const chromium = await loadChromium();
    tm = await startTokenmint();
    site = await startSite(tm.url);
    browser = await chromium.launch({ executablePath: CHROMIUM_BIN, headless: true, args: ["--no-sandbox"] });
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await tm?.stop();
  });

  async function open(context) {
    const page = await context.newPage();
    await page.goto(site.origin);
    await page.waitForFunction(() => window.ready === true);
    return page;
  }

  /**
   * Makes the stored access token expire within the 60 s leeway, and gives every tab a new
   * client (as after a restart: a client trusts the tokens it holds in memory until they
   * come close to expiry).
   */
  async function expireSoon(...tabs) {
    const record = await tabs[0].evaluate((key) => {
      const record = JSON.parse(localStorage.getItem(key));
      record.expiresAt = Date.now() + 5000;
      localStorage.setItem(key, JSON.stringify(record));
      return record;
    }, KEY);
    for (const tab of tabs) await tab.evaluate(() => (window.client = newClient()));
    return record;
  }

  test("tabs take turns: one refresh reaches tokenmint, no reuse, tokens survive a reload", async () => {
    const context = await browser.newContext();
    const [tab1, tab2] = [await open(context), await open(context)];
    assert.equal(await tab1.evaluate(() => typeof navigator.locks?.request), "function", "Web Locks present");

    await tab1.evaluate((jwt) => client.signIn({ appwriteJwt: jwt }), tm.appwriteJwt);
    const before = await expireSoon(tab1, tab2);
    const [a, b] = await Promise.all([tab1, tab2].map((tab) => tab.evaluate(() => client.getAccessToken())));
    assert.equal(site.refreshes.length, 1, "exactly one refresh request reached tokenmint");
    assert.equal(a, b, "both tabs hold the one new access token");
    assert.notEqual(a, before.accessToken);

    // No reuse revocation: a later refresh of the chain works, from the other tab.
    await expireSoon(tab2, tab1);
    const later = await tab2.evaluate(() => client.getAccessToken());
    assert.notEqual(later, a);
    assert.equal(site.refreshes.length, 2);
    assert.notEqual(site.refreshes[1], site.refreshes[0], "the second refresh presented the successor");

    // A reload keeps the tokens: read back from localStorage, no refresh needed.
    await tab1.reload();
    await tab1.waitForFunction(() => window.ready === true);
    assert.equal(await tab1.evaluate(() => client.getAccessToken()), later);
    assert.equal(site.refreshes.length, 2);
    for (const tab of [tab1, tab2]) assert.deepEqual(await tab.evaluate(() => window.ended), []);
    await context.close();
  });

  test("without Web Locks both tabs refresh the same token and tokenmint's grace window keeps them", async () => {
    const context = await browser.newContext();
    await context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true });
    });
    const [tab1, tab2] = [await open(context), await open(context)];
    assert.equal(await tab1.evaluate(() => navigator.locks), undefined);
    await tab1.evaluate((jwt) => client.signIn({ appwriteJwt: jwt }), tm.appwriteJwt);
    const before = await expireSoon(tab1, tab2);
    const already = site.refreshes.length;
    const [a, b] = await Promise.all([tab1, tab2].map((tab) => tab.evaluate(() => client.getAccessToken())));
    const presented = site.refreshes.slice(already);
    assert.deepEqual(presented, [before.refreshToken, before.refreshToken], "both tabs refreshed the same token");
    assert.ok(a && b);
    // Within the grace window both got the same successor, so the chain lives on.
    await expireSoon(tab2, tab1);
    assert.ok(await tab2.evaluate(() => client.getAccessToken()));
    for (const tab of [tab1, tab2]) assert.deepEqual(await tab.evaluate(() => window.ended), []);
    await context.close();
  });
});
