/**
 * Why a tokenmint session ended, as reported by the `sessionEnded` event:
 * - `revoked`: tokenmint refused the refresh token (`invalid_grant`): an admin, a webhook,
 *   a sign-out on another device or reuse detection revoked the session, or it ran out.
 *   tokenmint deliberately answers all of these alike ("the refresh token is invalid,
 *   expired or revoked"), so the client reports `revoked` for every one of them.
 * - `reuse`, `expired`: part of the type for servers that tell these apart; tokenmint
 *   does not, so this client does not emit them today.
 * - `signedOut`: {@link TokenmintClient.signOut} was called.
 */
export type SessionEndReason = "revoked" | "reuse" | "expired" | "signedOut";

/**
 * What the client throws. `code` is the OAuth error code from tokenmint (`invalid_grant`,
 * `invalid_request`, `slow_down`, `temporarily_unavailable`, …) or one of the client's own:
 * - `network`: no answer (connection refused or dropped);
 * - `timeout`: no answer within the request timeout;
 * - `invalid_response`: an answer that is not tokenmint's JSON;
 * - `not_signed_in`: no tokens stored (never signed in, signed out, or ended in another tab);
 * - `session_ended`: the session ended (see `reason`); call `signIn` again.
 *
 * When `retryable` is true the session is intact: try again later (the refresh token was
 * kept).
 */
export class TokenmintError extends Error {
  /** OAuth error code, or one of the client's own codes listed above. */
  readonly code: string;
  /** The HTTP status, when tokenmint answered. */
  readonly status: number | undefined;
  /** True when trying again later may succeed; the session is kept. */
  readonly retryable: boolean;
  /** For `session_ended`: why. */
  readonly reason: SessionEndReason | undefined;

  /** @internal */
  constructor(
    message: string,
    details: {
      code: string;
      status?: number;
      retryable?: boolean;
      reason?: SessionEndReason;
      cause?: unknown;
    },
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "TokenmintError";
    this.code = details.code;
    this.status = details.status;
    this.retryable = details.retryable ?? false;
    this.reason = details.reason;
  }
}
