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

-- == publishing (the outbox) ====================================================================

-- name: claim_idempotency
-- $1 tenant_id, $2 key, $3 now, $4 not_before. A row comes back when this transaction now
-- owns the key: it was unused, or last used before $4 (taken over). A concurrent first use
-- of the same key waits here on the unique index until the other transaction ends, then sees
-- its row (and gets nothing back): the key is never used twice. The placeholder response is
-- replaced by save_idempotency before commit.
INSERT INTO idempotency_keys (tenant_id, key, response, created_at) VALUES ($1, $2, '', $3)
ON CONFLICT (tenant_id, key) DO UPDATE
    SET response = '', created_at = EXCLUDED.created_at
    WHERE idempotency_keys.created_at < $4
RETURNING created_at

-- name: find_idempotency
-- Run after claim_idempotency returned nothing: a new statement, so it sees the row that a
-- concurrent transaction committed while we waited for it.
SELECT response FROM idempotency_keys WHERE tenant_id = $1 AND key = $2

-- name: save_idempotency
UPDATE idempotency_keys SET response = $3 WHERE tenant_id = $1 AND key = $2

-- name: publish
-- The whole batch in one statement: the events ($1..$6, one array element per event), then
-- ONE set-based fan-out over all of them to every live, enabled, subscribed webhook of the
-- event's tenant whose client list is empty or names the event's client. Answers one row
-- per event that got deliveries, and notifies the workers (delivered at commit; PostgreSQL
-- folds identical notifications of one transaction into one).
WITH new_events AS (
    INSERT INTO events (id, tenant_id, event, client_cuid, body, created_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[],
                         $6::timestamptz[])
    RETURNING id, tenant_id, event, client_cuid
), fanned AS (
    INSERT INTO deliveries (id, tenant_id, webhook_id, event_id, event, trigger, status,
                            attempts, next_attempt_at, created_at, updated_at)
    SELECT 'dlv_' || substr(e.id, 5) || substr(w.id, 4), w.tenant_id, w.id, e.id, e.event,
           'event', 'pending', 0, $7, $7, $7
    FROM new_events e
    JOIN webhook_subscriptions s ON s.tenant_id = e.tenant_id AND s.event = e.event
    JOIN webhooks w ON w.id = s.webhook_id
    WHERE w.enabled AND w.deleted_at IS NULL
      AND (w.client_cuids = '[]'::jsonb OR w.client_cuids ? e.client_cuid)
    RETURNING event_id
)
SELECT event_id, count(*) AS deliveries, pg_notify('hookline_work', '') AS notified
FROM fanned GROUP BY event_id

-- name: insert_delivery
WITH queued AS (
    INSERT INTO deliveries (id, tenant_id, webhook_id, event_id, event, trigger, status,
                            attempts, next_attempt_at, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    RETURNING id
)
SELECT pg_notify('hookline_work', '') FROM queued

-- == the queue ==================================================================================

-- name: claim_settings
-- Run first in the claim's transaction; SET LOCAL lasts until it ends.
-- 1. The claim's plan must not depend on table statistics: autovacuum may be off, and a
-- backlog of a million can be published between two ANALYZEs (or after one that saw a drained
-- queue). Without statistics, the planner guesses that few rows are due, so it may
-- bitmap-scan every due row and sort them all to take the first 100 (1.3 s with 1,000,000
-- queued; 20 ms with 20,000). With bitmap and sequential scans off (a cost penalty, not a ban),
-- the cheapest way left is deliveries_due read in its order, stopping after $2 rows. Not
-- enable_sort: its penalty lands on the final sort of the (at most $2) leased rows, which no
-- plan avoids, and a plan that costly gets JIT-compiled (~350 ms a claim); jit is off for the
-- same reason.
-- 2. The commit does not wait for its WAL to reach the disk. A lease is made to be lost: if
-- the server crashes before the WAL is flushed, the delivery is pending again and is claimed
-- again (and the worker that sent it meanwhile finds its token stale), which is what an
-- expired lease does anyway. Nothing accepted and no attempt log depends on it: publishing
-- and complete() commit as usual.
SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off; SET LOCAL jit = off;
SET LOCAL synchronous_commit = off

-- name: claim_due
-- $1 now, $2 limit, $3 lease_until, $4 token, $5 webhook ids to leave out (the engine's full
-- endpoints; usually empty), $6 where the read of deliveries_due starts (see skip_floor; the
-- beginning of time when nothing is skipped). SKIP LOCKED: concurrent claimers pass over the
-- rows another one is taking; a row taken and committed meanwhile is re-checked against the
-- WHERE (its lease is now live) and dropped. One round trip: lease, then the details.
-- "picked" reads deliveries alone, in the order of deliveries_due (see claim_settings), and
-- checks each row's webhook and tenant with a scalar subquery, which the planner cannot turn
-- into a join that would have to be sorted: the scan stops after $2 rows, however long the
-- queue. (Due rows of dead webhooks are passed over; cancel_orphans cancels them.)
WITH picked AS MATERIALIZED (
    SELECT d.id FROM deliveries d
    WHERE d.status IN ('pending', 'delivering')
      AND d.next_attempt_at >= $6 AND d.next_attempt_at <= $1
      AND (d.status = 'pending' OR d.lease_expires_at <= $1)
      AND d.webhook_id <> ALL($5::text[])
      AND (SELECT w.enabled AND w.deleted_at IS NULL AND t.enabled
           FROM webhooks w JOIN tenants t ON t.id = w.tenant_id
           WHERE w.id = d.webhook_id)
    ORDER BY d.next_attempt_at  -- the order of deliveries_due: no sort
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE deliveries d
    SET status = 'delivering', lease_token = $4, lease_expires_at = $3, updated_at = $1
    FROM picked WHERE d.id = picked.id
    RETURNING d.id, d.tenant_id, d.webhook_id, d.event_id, d.event, d.trigger, d.attempts,
              d.lease_token, d.next_attempt_at
)
SELECT l.id, l.tenant_id, l.webhook_id, l.event_id, l.event, l.trigger, l.attempts,
       l.lease_token, e.client_cuid, e.body, w.url, w.secret_enc, w.ssl_verification,
       l.next_attempt_at
FROM leased l
JOIN events e ON e.id = l.event_id
JOIN webhooks w ON w.id = l.webhook_id
ORDER BY l.next_attempt_at, l.id

-- name: complete_deliveries
-- One element per completion: $1 id, $2 lease_token, $3 status, $4 attempts,
-- $5 next_attempt_at, $6 last_status_code, $7 last_error; $8 now. Applied only while the
-- token still matches. A retry of a webhook disabled or deleted meanwhile is cancelled.
-- $9..$27: one element per attempt log, the columns of delivery_logs in order (the header
-- dicts as JSON text). Every log is kept, lease lost or not: the attempt did happen. A batch
-- sent again because its commit was not confirmed (the connection died after COMMIT) stores
-- no log twice. One statement, so one round trip and one transaction (data-modifying CTEs
-- always run, referenced or not).
WITH done AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[],
                         $6::int[], $7::text[])
        AS c(id, lease_token, status, attempts, next_attempt_at, last_status_code, last_error)
), applied AS (
    UPDATE deliveries d
    SET status = CASE WHEN c.status = 'pending' AND NOT (w.enabled AND w.deleted_at IS NULL)
                      THEN 'cancelled' ELSE c.status END,
        attempts = c.attempts,
        next_attempt_at = CASE WHEN c.status = 'pending' AND w.enabled AND w.deleted_at IS NULL
                               THEN c.next_attempt_at END,
        lease_token = NULL, lease_expires_at = NULL,
        last_status_code = c.last_status_code, last_error = c.last_error, updated_at = $8
    FROM done c, webhooks w
    WHERE d.id = c.id AND d.lease_token = c.lease_token AND w.id = d.webhook_id
    RETURNING d.id
), logged AS (
    INSERT INTO delivery_logs (id, tenant_id, delivery_id, webhook_id, event_id, event,
                               client_cuid, attempt, trigger, url, request_headers,
                               request_body, status_code, response_headers, response_body,
                               duration_ms, success, error, created_at)
    SELECT g.id, g.tenant_id, g.delivery_id, g.webhook_id, g.event_id, g.event, g.client_cuid,
           g.attempt, g.trigger, g.url, g.request_headers::jsonb, g.request_body, g.status_code,
           g.response_headers::jsonb, g.response_body, g.duration_ms, g.success, g.error,
           g.created_at
    FROM unnest($9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                $15::text[], $16::int[], $17::text[], $18::text[], $19::text[], $20::text[],
                $21::int[], $22::text[], $23::text[], $24::int[], $25::boolean[], $26::text[],
                $27::timestamptz[])
        AS g(id, tenant_id, delivery_id, webhook_id, event_id, event, client_cuid, attempt,
             trigger, url, request_headers, request_body, status_code, response_headers,
             response_body, duration_ms, success, error, created_at)
    ON CONFLICT (id) DO NOTHING
)
SELECT count(*) FROM applied

-- name: insert_log
INSERT INTO delivery_logs (id, tenant_id, delivery_id, webhook_id, event_id, event, client_cuid,
                           attempt, trigger, url, request_headers, request_body, status_code,
                           response_headers, response_body, duration_ms, success, error,
                           created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)

-- name: release_deliveries
-- $1 ids, $2 their lease tokens, $3 next_attempt_at, $4 now. Like a claim, a release need not
-- wait for the disk (see claim_settings): lost in a crash, the lease just expires.
WITH released AS (
    UPDATE deliveries d
    SET status = 'pending', lease_token = NULL, lease_expires_at = NULL,
        next_attempt_at = $3, updated_at = $4
    FROM unnest($1::text[], $2::text[]) AS l(id, lease_token)
    WHERE d.id = l.id AND d.lease_token = l.lease_token
    RETURNING d.id
)
SELECT count(*), set_config('synchronous_commit', 'off', true) FROM released

-- name: next_due_at
SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'

-- name: queue_counts
-- Reads every live row: with a queue of a million, that is most of a second (see
-- pg_counts.QueueCounts, which spaces such counts out).
SELECT count(*) AS live,
       count(*) FILTER (WHERE next_attempt_at <= $1
                          AND (status = 'pending' OR lease_expires_at <= $1)) AS due
FROM deliveries WHERE status IN ('pending', 'delivering')

-- name: oldest_due
-- The first entries of deliveries_due, however long the queue: always read fresh.
SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1

-- name: cancel_orphans
-- Live deliveries nobody holds whose webhook is disabled or deleted.
WITH cancelled AS (
    UPDATE deliveries
    SET status = 'cancelled', next_attempt_at = NULL, lease_token = NULL,
        lease_expires_at = NULL, updated_at = $1
    WHERE status IN ('pending', 'delivering')
      AND (status = 'pending' OR lease_expires_at <= $1)
      AND webhook_id IN (SELECT id FROM webhooks WHERE NOT enabled OR deleted_at IS NOT NULL)
    RETURNING id
)
SELECT count(*) FROM cancelled

-- name: purge
-- $1 logs_before, $2 idempotency_before: both deletes in one statement (one transaction).
WITH logs AS (
    DELETE FROM delivery_logs WHERE created_at < $1 RETURNING 1
), keys AS (
    DELETE FROM idempotency_keys WHERE created_at < $2 RETURNING 1
)
SELECT (SELECT count(*) FROM logs) + (SELECT count(*) FROM keys)

-- == history ====================================================================================

-- name: list_logs
-- $1 tenant, $2 limit; the filters given take the place of the marker, as $3.. (see
-- store/listing.py: without the filters left out, a generic plan cannot pick the index that
-- fits them).
SELECT id, tenant_id, delivery_id, webhook_id, event_id, event, client_cuid, attempt, trigger,
       url, request_headers, request_body, status_code, response_headers, response_body,
       duration_ms, success, error, created_at
FROM delivery_logs
WHERE tenant_id = $1 /* filters */
ORDER BY id DESC
LIMIT $2

-- name: get_log
SELECT id, tenant_id, delivery_id, webhook_id, event_id, event, client_cuid, attempt, trigger,
       url, request_headers, request_body, status_code, response_headers, response_body,
       duration_ms, success, error, created_at
FROM delivery_logs WHERE tenant_id = $1 AND id = $2

-- name: list_deliveries
-- As list_logs: $1 tenant, $2 limit, the filters given as $3..
SELECT id, tenant_id, webhook_id, event_id, event, trigger, status, attempts, next_attempt_at,
       last_status_code, last_error, created_at, updated_at
FROM deliveries
WHERE tenant_id = $1 /* filters */
ORDER BY id DESC
LIMIT $2

-- name: get_delivery
SELECT id, tenant_id, webhook_id, event_id, event, trigger, status, attempts, next_attempt_at,
       last_status_code, last_error, created_at, updated_at
FROM deliveries WHERE tenant_id = $1 AND id = $2

-- name: attempt_stats
SELECT count(*) AS total, count(*) FILTER (WHERE success) AS succeeded
FROM delivery_logs WHERE tenant_id = $1 AND created_at >= $2

-- name: webhook_activity
SELECT w.id AS webhook_id, l.created_at, l.success, l.status_code,
       (SELECT count(*) FROM deliveries d
        WHERE d.webhook_id = w.id AND d.tenant_id = $1 AND d.status = 'failed'
          AND d.updated_at >= $3) AS failed_recently
FROM unnest($2::text[]) WITH ORDINALITY AS w(id, n)
LEFT JOIN LATERAL (
    SELECT x.created_at, x.success, x.status_code FROM delivery_logs x
    WHERE x.tenant_id = $1 AND x.webhook_id = w.id
    ORDER BY x.id DESC LIMIT 1) l ON TRUE
ORDER BY w.n
