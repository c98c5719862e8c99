-- Who acted as the user when the session was created, when Appwrite reported an impersonation
-- (its `impersonatorUserId`, or an OAuth2 token's `act.sub`); null for the user themselves.
-- Access tokens of such a session carry it as `act: {"sub": …}` (RFC 8693 §4.1).
alter table sessions add column impersonator text;
