-- Named query blocks for PostgreSQL (asyncpg, $n parameters). The SQLite dialect uses the
-- same block names; each is named after the Store method (or the step of one) that runs it.
-- JSONB columns are encoded and decoded by the connection's json codec (Python lists/dicts).

-- name: ping
SELECT 1

-- name: lock_migrations
SELECT pg_advisory_xact_lock($1)

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL
)

-- name: list_migration_versions
SELECT version FROM schema_migrations ORDER BY version

-- name: insert_migration
INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)

-- name: insert_tenant
INSERT INTO tenants (id, name, enabled, created_at) VALUES ($1, $2, $3, $4)

-- name: get_tenant
SELECT id, name, enabled, created_at FROM tenants WHERE id = $1

-- name: get_tenant_by_name
SELECT id, name, enabled, created_at FROM tenants WHERE name = $1

-- name: list_tenants
SELECT id, name, enabled, created_at FROM tenants ORDER BY created_at, id

-- name: set_tenant_enabled
UPDATE tenants SET enabled = $2 WHERE id = $1 RETURNING id

-- name: insert_api_key
INSERT INTO api_keys (id, tenant_id, role, key_hash, prefix, created_at, revoked_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)

-- name: find_api_key
SELECT k.id, k.tenant_id, k.role, k.prefix, k.created_at, k.revoked_at,
       t.name AS tenant_name, t.enabled AS tenant_enabled, t.created_at AS tenant_created_at
FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
WHERE k.key_hash = $1 AND k.revoked_at IS NULL

-- name: list_api_keys
-- $1 tenant_id: NULL means every tenant's keys.
SELECT id, tenant_id, role, prefix, created_at, revoked_at
FROM api_keys WHERE ($1::text IS NULL OR tenant_id = $1::text)
ORDER BY created_at, id

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING id

-- name: count_api_keys
SELECT count(*) FROM api_keys

-- name: list_event_types
-- $1 include_removed.
SELECT name, description, created_at, removed_at
FROM event_types WHERE ($1::boolean OR removed_at IS NULL)
ORDER BY name

-- name: upsert_event_type
-- An active type of that name wins (no row returned); a removed one comes back.
INSERT INTO event_types (name, description, created_at) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE
    SET description = EXCLUDED.description, removed_at = NULL
    WHERE event_types.removed_at IS NOT NULL
RETURNING name

-- name: remove_event_type
UPDATE event_types SET removed_at = $2 WHERE name = $1 AND removed_at IS NULL RETURNING name

-- name: insert_webhook
INSERT INTO webhooks (id, tenant_id, name, url, client_cuids, events, secret_enc,
                      ssl_verification, enabled, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)

-- name: insert_subscriptions
INSERT INTO webhook_subscriptions (webhook_id, tenant_id, event)
SELECT $1, $2, e FROM unnest($3::text[]) AS e
ON CONFLICT DO NOTHING

-- name: delete_subscriptions
DELETE FROM webhook_subscriptions WHERE webhook_id = $1

-- name: get_webhook
SELECT id, tenant_id, name, url, client_cuids, events, secret_enc, ssl_verification, enabled,
       created_at, updated_at
FROM webhooks WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL

-- name: list_webhooks
-- $2 enabled, $3 event, $4 after_id: NULL means "no filter".
SELECT w.id, w.tenant_id, w.name, w.url, w.client_cuids, w.events, w.secret_enc,
       w.ssl_verification, w.enabled, w.created_at, w.updated_at
FROM webhooks w
WHERE w.tenant_id = $1 AND w.deleted_at IS NULL
  AND ($2::boolean IS NULL OR w.enabled = $2::boolean)
  AND ($3::text IS NULL OR EXISTS (
        SELECT 1 FROM webhook_subscriptions s WHERE s.webhook_id = w.id AND s.event = $3::text))
  AND ($4::text IS NULL OR w.id > $4::text)
ORDER BY w.id
LIMIT $5

-- name: update_webhook
UPDATE webhooks
SET name = $3, url = $4, client_cuids = $5, events = $6, secret_enc = $7,
    ssl_verification = $8, enabled = $9, updated_at = $10
WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
RETURNING id

-- name: soft_delete_webhook
-- Also disabled, so that nothing that forgets the deleted_at filter delivers to it.
UPDATE webhooks SET deleted_at = $3, enabled = FALSE, updated_at = $3
WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
RETURNING id

-- name: cancel_pending_deliveries
-- Only 'pending': an attempt in flight ('delivering') finishes and records its outcome.
UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = $2
WHERE webhook_id = $1 AND status = 'pending'
