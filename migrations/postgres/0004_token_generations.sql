-- Refresh tokens carry their generation and a tag only tokenmint can make (see
-- src/crypto/validator.rs): the session keeps the current token's generation, so a presented
-- token of an older generation is provably a replay, one of a later generation a rotation the
-- database lost, and one with a made-up tag a forgery that changes nothing. Null until a
-- session's first rotation after this migration (its current token is then a random one).
-- Successors are computed from the token they follow: new rotations store none
-- (`successor_sealed` stays for the rows rotated before).
alter table sessions add column generation bigint;
