-- Named query blocks, SQLite dialect. Parameters are :named. Times are epoch milliseconds.

-- name: insert_tenant
INSERT INTO tenants (id, name, enabled, created_at) VALUES (:id, :name, :enabled, :created_at)

-- name: get_tenant
SELECT id, name, enabled, created_at FROM tenants WHERE id = :id

-- name: get_tenant_by_name
SELECT id, name, enabled, created_at FROM tenants WHERE name = :name

-- name: list_tenants
SELECT id, name, enabled, created_at FROM tenants ORDER BY created_at, id

-- name: set_tenant_enabled
UPDATE tenants SET enabled = :enabled WHERE id = :id

-- name: insert_api_key
INSERT INTO api_keys (id, tenant_id, role, key_hash, prefix, created_at)
VALUES (:id, :tenant_id, :role, :key_hash, :prefix, :created_at)

-- name: find_api_key
SELECT k.id, k.tenant_id, k.role, k.prefix, k.created_at, k.revoked_at,
       t.id AS t_id, t.name AS t_name, t.enabled AS t_enabled, t.created_at AS t_created_at
FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL

-- name: list_api_keys
SELECT id, tenant_id, role, prefix, created_at, revoked_at FROM api_keys
WHERE (:tenant_id IS NULL OR tenant_id = :tenant_id)
ORDER BY created_at, id

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL

-- name: count_api_keys
SELECT count(*) FROM api_keys

-- name: list_event_types
SELECT name, description, created_at, removed_at FROM event_types
WHERE (:include_removed OR removed_at IS NULL)
ORDER BY name

-- name: get_event_type
SELECT name, description, created_at, removed_at FROM event_types WHERE name = :name

-- name: insert_event_type
INSERT INTO event_types (name, description, created_at) VALUES (:name, :description, :created_at)

-- name: restore_event_type
UPDATE event_types SET description = :description, removed_at = NULL
WHERE name = :name AND removed_at IS NOT NULL

-- name: remove_event_type
UPDATE event_types SET removed_at = :now WHERE name = :name AND removed_at IS NULL

-- name: insert_webhook
INSERT INTO webhooks (id, tenant_id, name, url, client_cuids, events, secret_enc,
                      ssl_verification, enabled, created_at, updated_at)
VALUES (:id, :tenant_id, :name, :url, :client_cuids, :events, :secret_enc,
        :ssl_verification, :enabled, :created_at, :updated_at)

-- name: insert_subscription
INSERT INTO webhook_subscriptions (webhook_id, tenant_id, event) VALUES (:webhook_id, :tenant_id, :event)

-- name: delete_subscriptions
DELETE FROM webhook_subscriptions WHERE webhook_id = :webhook_id

-- name: get_webhook
SELECT id, tenant_id, name, url, client_cuids, events, secret_enc, ssl_verification, enabled,
       created_at, updated_at
FROM webhooks WHERE id = :id AND tenant_id = :tenant_id AND deleted_at IS NULL

-- name: list_webhooks
SELECT id, tenant_id, name, url, client_cuids, events, secret_enc, ssl_verification, enabled,
       created_at, updated_at
FROM webhooks w
WHERE w.tenant_id = :tenant_id AND w.deleted_at IS NULL
  AND (:after_id IS NULL OR w.id > :after_id)
  AND (:enabled IS NULL OR w.enabled = :enabled)
  AND (:event IS NULL OR EXISTS (
        SELECT 1 FROM webhook_subscriptions s WHERE s.webhook_id = w.id AND s.event = :event))
ORDER BY w.id
LIMIT :limit

-- name: update_webhook
UPDATE webhooks SET name = :name, url = :url, client_cuids = :client_cuids, events = :events,
                    secret_enc = :secret_enc, ssl_verification = :ssl_verification,
                    enabled = :enabled, updated_at = :updated_at
WHERE id = :id AND tenant_id = :tenant_id AND deleted_at IS NULL

-- name: soft_delete_webhook
UPDATE webhooks SET deleted_at = :now, enabled = 0, updated_at = :now
WHERE id = :id AND tenant_id = :tenant_id AND deleted_at IS NULL

-- name: cancel_pending_deliveries
UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = :now
WHERE webhook_id = :webhook_id AND status = 'pending'
