import { TokenmintError, type SessionEndReason } from "./errors.js";
import { MemoryStorage, type TokenStorage } from "./storage.js";

/**
 * Proof of an Appwrite sign-in, exchanged once by {@link TokenmintClient.signIn}:
 * - `appwriteJwt`: `account.createJWT()` (React Native, web, Flutter; the recommended proof);
 * - `appwriteSession`: the `a_session_<projectId>` cookie value (Flutter's cookie jar);
 * - `oauthAccessToken` / `oauthIdToken`: tokens of the Appwrite project's OAuth2 server.
 */
export type Proof =
  | { appwriteJwt: string }
  | { appwriteSession: string }
  | { oauthAccessToken: string }
  | { oauthIdToken: string };

/** Options of {@link TokenmintClient}. */
export interface TokenmintClientOptions {
  /** tokenmint's base URL, e.g. `https://auth.example.com` (its `TOKENMINT_ISSUER`). */
  issuer: string;
  /** Sent as `client_id` on exchange and refresh; tokenmint then requires it on refresh. */
  clientId?: string;
  /** Where tokens are kept; default {@link MemoryStorage}. */
  storage?: TokenStorage;
  /** The `fetch` to use; default the platform's `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Refresh when the access token expires within this many seconds; default 60. */
  refreshLeewaySeconds?: number;
  /** `audience` sent on exchange (must be in tokenmint's `TOKENMINT_AUDIENCES`). */
  audience?: string;
  /** `device_name` sent on exchange, shown in the user's session list. */
  deviceName?: string;
  /** Web Locks name that serialises refreshes across tabs; default `tokenmint-refresh:<storageKey>`. */
  lockName?: string;
  /** Storage key of the record; default `tokenmint.tokens`, or `tokenmint.tokens:<clientId>`. */
  storageKey?: string;
  /** Time limit of each request to tokenmint, in seconds; default 10. */
  requestTimeoutSeconds?: number;
  /** Attempts of one refresh on network errors, timeouts, 429 and 5xx; default 5. */
  maxRefreshAttempts?: number;
  /** Time bound of one refresh with its retries, in seconds; default 60. */
  maxRefreshSeconds?: number;
}

/** Payload of the `tokens` event: a new access token (never the refresh token). */
export interface TokensEvent {
  /** The access token (a JWT), for `Authorization: Bearer`. */
  accessToken: string;
  /** When it expires, in milliseconds since the epoch (by this device's clock). */
  expiresAt: number;
  /** The granted scope, when tokenmint named one. */
  scope?: string;
}

/** Events of {@link TokenmintClient.on}. */
export interface TokenmintEvents {
  /** The session ended; refreshes stop until the next `signIn`. Emitted once per session. */
  sessionEnded: (reason: SessionEndReason) => void;
  /** New tokens were stored (after `signIn` or a refresh). */
  tokens: (tokens: TokensEvent) => void;
}

/** The one JSON record kept in storage. */
interface TokenRecord {
  v: 1;
  refreshToken: string;
  accessToken: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  scope?: string;
}

interface Answer {
  status: number;
  body: unknown;
}

/** Which failures a request retries: refresh retries all transient ones, exchange only refusals. */
type RetryMode = "transient" | "refusals" | "none";

/** How long a tab that waited for the lock watches storage for the previous holder's tokens. */
const PROPAGATION_WAIT_MS = 500;

/** Answers worth retrying with the same parameters: rate limited, or unavailable for now. */
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";

const SUBJECT_TOKEN_TYPES = {
  appwriteJwt: "urn:tokenmint:params:token-type:appwrite-jwt",
  appwriteSession: "urn:tokenmint:params:token-type:appwrite-session",
  oauthAccessToken: "urn:ietf:params:oauth:token-type:access_token",
  oauthIdToken: "urn:ietf:params:oauth:token-type:id_token",
} as const;

/**
 * A tokenmint client for apps: exchanges an Appwrite sign-in for tokenmint's tokens, hands
 * out valid access tokens, refreshes them one at a time (across browser tabs too), rides
 * out flaky networks without losing the session, and revokes on sign-out.
 *
 * @example
 * ```ts
 * const tokenmint = new TokenmintClient({ issuer: "https://auth.example.com", clientId: "my-app" });
 * await tokenmint.signIn({ appwriteJwt: (await account.createJWT()).jwt });
 * const res = await tokenmint.fetch("https://api.example.com/orders");
 * ```
 */
export class TokenmintClient {
  private readonly issuer: string;
  private readonly clientId: string | undefined;
  private readonly audience: string | undefined;
  private readonly deviceName: string | undefined;
  private readonly storage: TokenStorage;
  private readonly storageKey: string;
  private readonly lockName: string;
  private readonly leewayMs: number;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly maxRefreshMs: number;
  private readonly send: typeof fetch;

  /** The record as last read or written; `undefined` until first read. */
  private record: TokenRecord | null | undefined;
  /** The refresh shared by every caller while it runs. */
  private inflight: Promise<TokenRecord> | null = null;
  /** Tail of the in-tab queue used when Web Locks are absent. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The refresh token of the session that ended, while it stays ended. */
  private endedToken: string | null = null;
  private readonly listeners: { [E in keyof TokenmintEvents]: Set<TokenmintEvents[E]> } = {
    sessionEnded: new Set(),
    tokens: new Set(),
  };

  /** @param options - see {@link TokenmintClientOptions}. */
  constructor(options: TokenmintClientOptions) {
    this.issuer = options.issuer.replace(/\/+$/, "");
    this.clientId = options.clientId;
    this.audience = options.audience;
    this.deviceName = options.deviceName;
    this.storage = options.storage ?? new MemoryStorage();
    this.storageKey =
      options.storageKey ?? (options.clientId ? `tokenmint.tokens:${options.clientId}` : "tokenmint.tokens");
    this.lockName = options.lockName ?? `tokenmint-refresh:${this.storageKey}`;
    this.leewayMs = (options.refreshLeewaySeconds ?? 60) * 1000;
    this.timeoutMs = (options.requestTimeoutSeconds ?? 10) * 1000;
    this.maxAttempts = Math.max(1, options.maxRefreshAttempts ?? 5);
    this.maxRefreshMs = (options.maxRefreshSeconds ?? 60) * 1000;
    const custom = options.fetch;
    // Called as plain functions: a browser's fetch throws "Illegal invocation" as a method.
    this.send = custom ? (input, init) => custom(input, init) : (input, init) => globalThis.fetch(input, init);
  }

  /**
   * Subscribes to an event.
   * @returns a function that unsubscribes.
   */
  on<E extends keyof TokenmintEvents>(event: E, listener: TokenmintEvents[E]): () => void {
    const set = this.listeners[event] as Set<TokenmintEvents[E]>;
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /**
   * Exchanges proof of an Appwrite sign-in for tokenmint's tokens (RFC 8693) and stores
   * them. Each call opens a new tokenmint session. Retried only when tokenmint refuses for
   * now (429, 502–504); a network error is thrown, since the exchange may have happened.
   *
   * @throws {@link TokenmintError} e.g. `invalid_grant` when Appwrite refused the proof.
   */
  async signIn(proof: Proof): Promise<TokensEvent> {
    const [kind, subjectToken] = proofEntry(proof);
    const params: Record<string, string> = {
      grant_type: TOKEN_EXCHANGE,
      subject_token_type: SUBJECT_TOKEN_TYPES[kind],
      subject_token: subjectToken,
    };
    if (this.clientId !== undefined) params.client_id = this.clientId;
    if (this.audience !== undefined) params.audience = this.audience;
    if (this.deviceName !== undefined) params.device_name = this.deviceName;
    const answer = await this.post("/oauth/token", params, "refusals");
    if (answer.status !== 200) throw oauthError(answer);
    const record = toRecord(answer.body);
    await this.withLock(() => this.save(record));
    this.endedToken = null;
    const tokens = publicTokens(record);
    this.emit("tokens", tokens);
    return tokens;
  }

  /**
   * A valid access token: the stored one, or a new one when it expires within
   * `refreshLeewaySeconds`. Concurrent callers share one refresh; across tabs, Web Locks
   * make tabs take turns, and a tab that finds another tab's fresh tokens uses them.
   *
   * @throws {@link TokenmintError} `not_signed_in`, `session_ended`, or a `retryable` one
   * when tokenmint could not be reached (the session is kept).
   */
  async getAccessToken(): Promise<string> {
    const record = await this.current();
    if (!this.expiring(record)) return record.accessToken;
    return (await this.refresh(null)).accessToken;
  }

  /**
   * `fetch` with `Authorization: Bearer <access token>`. On a 401 it refreshes once (unless
   * another caller already did) and retries once. Request bodies must be replayable
   * (string, `URLSearchParams`, `FormData`, `Blob`, or a `Request`, which is cloned).
   */
  async fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const token = await this.getAccessToken();
    const first = await this.authorized(input, init, token);
    if (first.status !== 401) return first;
    await first.body?.cancel().catch(() => undefined);
    const record = await this.refresh(token);
    return this.authorized(input, init, record.accessToken);
  }

  /**
   * Signs out: revokes the session at tokenmint (RFC 7009, best effort: a failure is
   * ignored), clears storage and emits `sessionEnded` with `signedOut`.
   */
  async signOut(): Promise<void> {
    await this.inflight?.catch(() => undefined);
    const ended = await this.withLock(async () => {
      const record = await this.load();
      if (record) {
        try {
          await this.post("/oauth/revoke", { token: record.refreshToken, token_type_hint: "refresh_token" }, "none");
        } catch {
          // Best effort: the session still ends here, and on tokenmint when it expires.
        }
        await this.storage.remove(this.storageKey);
      }
      this.record = null;
      return record !== null;
    });
    if (ended) this.emit("sessionEnded", "signedOut");
  }

  /** The record, read from storage the first time; throws when there is none. */
  private async current(): Promise<TokenRecord> {
    if (this.record === undefined || this.endedToken !== null) await this.load();
    if (this.endedToken !== null) {
      throw new TokenmintError("the session ended; sign in again", { code: "session_ended", reason: "revoked" });
    }
    if (!this.record) throw notSignedIn();
    return this.record;
  }

  private expiring(record: TokenRecord): boolean {
    return record.expiresAt - Date.now() <= this.leewayMs;
  }

  /**
   * One refresh for every concurrent caller. `rejected` is an access token a server
   * refused (401): refresh even if it has not expired, unless storage already holds another.
   */
  private refresh(rejected: string | null): Promise<TokenRecord> {
    if (!this.inflight) {
      const seen = this.record?.refreshToken ?? null;
      this.inflight = this.withLock((waited) => this.refreshLocked(rejected, seen, waited)).finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  /**
   * Under the lock: another tab may have refreshed meanwhile, so storage decides. `seen` is
   * the refresh token this client held when it decided to refresh; `waited` says another
   * tab held the lock first.
   */
  private async refreshLocked(rejected: string | null, seen: string | null, waited: boolean): Promise<TokenRecord> {
    let stored = await this.load();
    // A browser propagates localStorage writes to other tabs asynchronously, so the tab that
    // held the lock may have stored new tokens this tab cannot read yet: give them a moment.
    for (let ms = 0; waited && stored && stored.refreshToken === seen && ms < PROPAGATION_WAIT_MS; ms += 25) {
      await sleep(25);
      stored = await this.load();
    }
    if (this.endedToken !== null) {
      throw new TokenmintError("the session ended; sign in again", { code: "session_ended", reason: "revoked" });
    }
    if (!stored) throw notSignedIn();
    if (!this.expiring(stored) && stored.accessToken !== rejected) return stored;

    const params: Record<string, string> = { grant_type: "refresh_token", refresh_token: stored.refreshToken };
    if (this.clientId !== undefined) params.client_id = this.clientId;
    const answer = await this.post("/oauth/token", params, "transient");
    if (answer.status === 400 && errorCode(answer.body) === "invalid_grant") {
      // tokenmint answers every refusal of a refresh token alike (unknown, reused, expired,
      // revoked), so that a thief learns nothing: the client cannot tell them apart.
      const reason: SessionEndReason = "revoked";
      await this.end(stored.refreshToken, reason);
      throw new TokenmintError(`the session ended (${reason}); sign in again`, {
        code: "session_ended",
        status: 400,
        reason,
      });
    }
    if (answer.status !== 200) throw oauthError(answer);
    const record = toRecord(answer.body);
    await this.save(record); // persisted before anyone sees the new access token
    this.emit("tokens", publicTokens(record));
    return record;
  }

  /** Ends the session of `refreshToken`: clears storage (if it still holds it) and emits once. */
  private async end(refreshToken: string, reason: SessionEndReason): Promise<void> {
    if (this.endedToken === refreshToken) return;
    this.endedToken = refreshToken;
    const stored = parseRecord(await this.storage.get(this.storageKey));
    if (!stored || stored.refreshToken === refreshToken) await this.storage.remove(this.storageKey);
    this.record = null;
    this.emit("sessionEnded", reason);
  }

  /** Reads the record from storage; a new sign-in elsewhere lifts an ended state. */
  private async load(): Promise<TokenRecord | null> {
    const record = parseRecord(await this.storage.get(this.storageKey));
    if (this.endedToken !== null && record && record.refreshToken !== this.endedToken) this.endedToken = null;
    this.record = this.endedToken === null ? record : null;
    return this.record;
  }

  private async save(record: TokenRecord): Promise<void> {
    await this.storage.set(this.storageKey, JSON.stringify(record));
    this.record = record;
  }

  /**
   * Runs `task` holding the cross-tab Web Lock when there is one, else in this instance's
   * queue. `task` learns whether it had to wait for another holder of the Web Lock.
   */
  private async withLock<T>(task: (waited: boolean) => Promise<T>): Promise<T> {
    const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    if (locks && typeof locks.request === "function") {
      const busy = Symbol("busy");
      const first = await locks.request(this.lockName, { ifAvailable: true }, (lock) =>
        lock ? task(false) : busy,
      );
      if (first !== busy) return first as T;
      return (await locks.request(this.lockName, () => task(true))) as T;
    }
    const run = this.queue.then(
      () => task(false),
      () => task(false),
    );
    this.queue = run.catch(() => undefined);
    return run;
  }

  private authorized(input: RequestInfo | URL, init: RequestInit | undefined, token: string): Promise<Response> {
    const request = typeof Request !== "undefined" && input instanceof Request ? input : undefined;
    const headers = new Headers(init?.headers ?? request?.headers);
    headers.set("Authorization", `Bearer ${token}`);
    return this.send(request ? request.clone() : input, { ...init, headers });
  }

  /**
   * POSTs a form to tokenmint. Retries (per `mode`) on network errors, timeouts, 429, 502-504
   * with the same parameters, honouring `Retry-After`, with exponential backoff and jitter,
   * within `maxRefreshAttempts` and `maxRefreshSeconds`; then throws a retryable error.
   */
  private async post(path: string, params: Record<string, string>, mode: RetryMode): Promise<Answer> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.postOnce(path, params).catch((err: TokenmintError) => err);
      if (!(outcome instanceof TokenmintError) && !RETRY_STATUSES.has(outcome.status)) return outcome;
      const transport = outcome instanceof TokenmintError;
      const failure = outcome instanceof TokenmintError ? outcome : oauthError(outcome, true);
      if (mode === "none" || (transport && mode !== "transient")) throw failure;
      const delay = Math.max(outcome instanceof TokenmintError ? 0 : outcome.retryAfterMs, backoff(attempt));
      if (attempt >= this.maxAttempts || Date.now() - started + delay > this.maxRefreshMs) throw failure;
      await sleep(delay);
    }
  }

  /** One request and its body, within the timeout; throws a retryable error for transport failures. */
  private async postOnce(path: string, params: Record<string, string>): Promise<Answer & { retryAfterMs: number }> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    try {
      const res = await this.send(`${this.issuer}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: formEncode(params),
        signal: controller.signal,
      });
      const text = await res.text();
      let body: unknown = null;
      try {
        body = text === "" ? null : JSON.parse(text);
      } catch {
        // not JSON: judged by status alone
      }
      return { status: res.status, body, retryAfterMs: retryAfter(res.headers.get("retry-after")) };
    } catch (cause) {
      const timedOut = controller.signal.aborted;
      throw new TokenmintError(
        timedOut ? `no answer from tokenmint within ${this.timeoutMs} ms` : "tokenmint could not be reached",
        { code: timedOut ? "timeout" : "network", retryable: true, cause },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  private emit<E extends keyof TokenmintEvents>(event: E, ...args: Parameters<TokenmintEvents[E]>): void {
    for (const listener of this.listeners[event]) {
      try {
        (listener as (...a: Parameters<TokenmintEvents[E]>) => void)(...args);
      } catch (err) {
        // A listener's bug must not break token handling.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}

/** `application/x-www-form-urlencoded`, by hand: React Native's URLSearchParams is partial. */
function formEncode(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join("&");
}

function proofEntry(proof: Proof): [keyof typeof SUBJECT_TOKEN_TYPES, string] {
  const kinds = Object.keys(SUBJECT_TOKEN_TYPES) as (keyof typeof SUBJECT_TOKEN_TYPES)[];
  const found = kinds.filter((kind) => typeof (proof as Record<string, unknown>)[kind] === "string");
  const kind = found[0];
  if (found.length !== 1 || kind === undefined) {
    throw new TypeError(`signIn: pass exactly one of ${kinds.join(", ")}`);
  }
  return [kind, (proof as Record<string, string>)[kind] as string];
}

function toRecord(body: unknown): TokenRecord {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b.access_token !== "string" || typeof b.refresh_token !== "string" || typeof b.expires_in !== "number") {
    throw new TokenmintError("tokenmint's answer lacks access_token, refresh_token or expires_in", {
      code: "invalid_response",
      status: 200,
    });
  }
  const record: TokenRecord = {
    v: 1,
    refreshToken: b.refresh_token,
    accessToken: b.access_token,
    expiresAt: Date.now() + b.expires_in * 1000,
  };
  if (typeof b.scope === "string") record.scope = b.scope;
  return record;
}

function parseRecord(text: string | null): TokenRecord | null {
  if (!text) return null;
  try {
    const r = JSON.parse(text) as Partial<TokenRecord>;
    if (r.v === 1 && typeof r.refreshToken === "string" && typeof r.accessToken === "string" && typeof r.expiresAt === "number") {
      return r as TokenRecord;
    }
  } catch {
    // fall through: an unreadable record is no record
  }
  return null;
}

function publicTokens(record: TokenRecord): TokensEvent {
  const tokens: TokensEvent = { accessToken: record.accessToken, expiresAt: record.expiresAt };
  if (record.scope !== undefined) tokens.scope = record.scope;
  return tokens;
}

function errorCode(body: unknown): string | undefined {
  const error = (body as { error?: unknown } | null)?.error;
  return typeof error === "string" ? error : undefined;
}

function oauthError(answer: Answer, retryable = false): TokenmintError {
  const code = errorCode(answer.body) ?? (answer.status >= 500 ? "temporarily_unavailable" : "invalid_response");
  const description = (answer.body as { error_description?: unknown } | null)?.error_description;
  const message = typeof description === "string" ? `${code}: ${description}` : `${code} (HTTP ${answer.status})`;
  return new TokenmintError(message, { code, status: answer.status, retryable });
}

function notSignedIn(): TokenmintError {
  return new TokenmintError("not signed in", { code: "not_signed_in" });
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date; 0 when absent or unreadable. */
function retryAfter(header: string | null): number {
  if (!header) return 0;
  const seconds = Number(header.trim());
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? 0 : Math.max(0, date - Date.now());
}

/** Exponential backoff with jitter: attempt 1 → 250–500 ms, doubling, at most 8 s. */
function backoff(attempt: number): number {
  const ceiling = Math.min(8000, 500 * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
