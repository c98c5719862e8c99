/**
 * Where {@link TokenmintClient} keeps its one JSON record (refresh token, access token and
 * expiry). Methods may answer synchronously or with a promise, so `localStorage`,
 * `expo-secure-store`, a Keychain wrapper or a database all fit.
 *
 * The record holds a refresh token: on a phone, keep it in the platform's secure store
 * (Keychain / Keystore), not in plain `AsyncStorage`.
 */
export interface TokenStorage {
  /** The value stored under `key`, or `null` when there is none. */
  get(key: string): Promise<string | null> | string | null;
  /** Stores `value` under `key`, replacing any previous value. */
  set(key: string, value: string): Promise<void> | void;
  /** Removes `key`; removing a missing key is not an error. */
  remove(key: string): Promise<void> | void;
}

/**
 * Keeps the record in memory only: the user signs in again after every restart. The
 * default storage, and the one for tests and server-side use.
 */
export class MemoryStorage implements TokenStorage {
  private readonly values = new Map<string, string>();

  /** {@inheritDoc TokenStorage.get} */
  get(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  /** {@inheritDoc TokenStorage.set} */
  set(key: string, value: string): void {
    this.values.set(key, value);
  }

  /** {@inheritDoc TokenStorage.remove} */
  remove(key: string): void {
    this.values.delete(key);
  }
}

/**
 * Keeps the record in the browser's `window.localStorage`, shared by every tab of the
 * origin, so a reload keeps the user signed in and tabs share one refresh-token chain
 * (see the README on how tabs take turns refreshing).
 *
 * Anything running on the page can read `localStorage`: serve a strict
 * Content-Security-Policy, and prefer short access-token lifetimes.
 */
export class LocalStorageStorage implements TokenStorage {
  private readonly storage: Storage;

  /**
   * @param storage - the `Storage` to use; default `globalThis.localStorage`.
   * @throws Error when there is no `localStorage` (Node, React Native).
   */
  constructor(storage?: Storage) {
    const found = storage ?? (globalThis as { localStorage?: Storage }).localStorage;
    if (!found) {
      throw new Error("LocalStorageStorage: no window.localStorage here; pass another TokenStorage");
    }
    this.storage = found;
  }

  /** {@inheritDoc TokenStorage.get} */
  get(key: string): string | null {
    return this.storage.getItem(key);
  }

  /** {@inheritDoc TokenStorage.set} */
  set(key: string, value: string): void {
    this.storage.setItem(key, value);
  }

  /** {@inheritDoc TokenStorage.remove} */
  remove(key: string): void {
    this.storage.removeItem(key);
  }
}
