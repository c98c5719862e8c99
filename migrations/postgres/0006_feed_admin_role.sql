-- Admin keys with the role `feed` may read the revocation feed (`GET /v1/revocations`) and
-- nothing else: verifiers need a credential for it, but not one that opens the admin API or
-- introspection.
alter table admin_keys drop constraint admin_keys_role_check;
alter table admin_keys add constraint admin_keys_role_check
    check (role in ('admin', 'introspect', 'feed'));
