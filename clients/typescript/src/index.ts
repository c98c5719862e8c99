/**
 * `@tokenmint/client`: a small tokenmint client for React Native, browsers and Node ≥ 20.
 * @packageDocumentation
 */
export { TokenmintClient } from "./client.js";
export type { Proof, TokenmintClientOptions, TokensEvent, TokenmintEvents } from "./client.js";
export { TokenmintError } from "./errors.js";
export type { SessionEndReason } from "./errors.js";
export { MemoryStorage, LocalStorageStorage } from "./storage.js";
export type { TokenStorage } from "./storage.js";
