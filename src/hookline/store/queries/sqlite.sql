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

-- name: find_idempotency
SELECT response FROM idempotency_keys
WHERE tenant_id = :tenant_id AND key = :key AND created_at >= :not_before

-- name: save_idempotency
INSERT INTO idempotency_keys (tenant_id, key, response, created_at)
VALUES (:tenant_id, :key, :response, :now)
ON CONFLICT (tenant_id, key) DO UPDATE SET response = excluded.response, created_at = excluded.created_at

-- name: insert_events
-- Events of one or more requests in one statement (one step: see sqlite_queue); :requests is a
-- JSON array with one array per request of [id, tenant_id, event, client_cuid, body_start,
-- body_size, created_at], and each body is the slice of the BLOB :bodies that its row names,
-- from its request's offset in :bases (a JSON array of one number per request). The rows get
-- consecutive rowids, in that order (a new row's rowid is one more than the table's largest):
-- the statements below read them back by that range (sqlite_publish checks that they did).
-- Why MATERIALIZED (here and in every statement that reads rows of a JSON array): json_each
-- renders its `value` as text again for every reference to it, and each json_extract then
-- compares that text with the one it parsed last; with the row stored once, each row is
-- rendered and parsed once (measured in sqlite3_step: a completion's log ~40% fewer
-- instructions). json_extract rather than ->>, which needs SQLite 3.38 (Ubuntu 22.04 has 3.37).
-- The WITH goes after INSERT INTO: a statement that starts with WITH is no INSERT to Python's
-- sqlite3, which then reports no rowcount and no lastrowid.
INSERT INTO events (id, tenant_id, event, client_cuid, body, created_at)
WITH q AS MATERIALIZED (
         SELECT value AS rows, json_extract(:bases, '$[' || key || ']') AS base
         FROM json_each(:requests)),
     r AS MATERIALIZED (SELECT e.value AS v, q.base AS base FROM q, json_each(q.rows) AS e)
SELECT json_extract(v, '$[0]'), json_extract(v, '$[1]'), json_extract(v, '$[2]'),
       json_extract(v, '$[3]'),
       substr(:bodies, base + json_extract(v, '$[4]'), json_extract(v, '$[5]')),
       json_extract(v, '$[6]')
FROM r

-- name: fan_out_range
-- The deliveries of the events just inserted (rowids :first..:last), in that order, due at
-- :now, or when :now is null at their event's created_at: every live, enabled, subscribed
-- webhook of the event's tenant whose client list is empty or names the event's client. Read
-- from the events table rather than from the JSON that inserted them (which cost half of the
-- fan-out's instructions in sqlite3_step: each field read parsed its row's JSON again).
INSERT INTO deliveries (id, tenant_id, webhook_id, event_id, event, trigger, status, attempts,
                        next_attempt_at, created_at, updated_at)
SELECT 'dlv_' || substr(e.id, 5) || substr(w.id, 4), w.tenant_id, w.id, e.id, e.event,
       'event', 'pending', 0, coalesce(:now, e.created_at), coalesce(:now, e.created_at),
       coalesce(:now, e.created_at)
FROM events e
JOIN webhook_subscriptions s ON s.tenant_id = e.tenant_id AND s.event = e.event
JOIN webhooks w ON w.id = s.webhook_id
WHERE e.rowid BETWEEN :first AND :last
  AND w.enabled = 1 AND w.deleted_at IS NULL
  AND (w.client_cuids = '[]'
       OR EXISTS (SELECT 1 FROM json_each(w.client_cuids) c WHERE c.value = e.client_cuid))
ORDER BY e.rowid

-- name: fanned_out_range
-- After fan_out_range: how many deliveries each event of rowids :first..:last got, as one
-- JSON array in rowid order, and the ids of the first and the last of them.
SELECT json_group_array(n),
       (SELECT id FROM events WHERE rowid = :first),
       (SELECT id FROM events WHERE rowid = :last)
FROM (SELECT (SELECT count(*) FROM deliveries d WHERE d.event_id = e.id) AS n
      FROM events e
      WHERE e.rowid BETWEEN :first AND :last
      ORDER BY e.rowid)

-- name: claim_due
-- The due ids, oldest first, as one JSON array (one step: see sqlite_queue); claim_lease then
-- leases them in the same transaction. :skip is a JSON array of webhook ids to leave out
-- (endpoints whose waiting line in the engine is full); :floor, where the read of the due index
-- starts (see skip_floor). Also answers the due time of the oldest id.
SELECT json_group_array(id), min(next_attempt_at) FROM (
    SELECT d.id, d.next_attempt_at FROM deliveries d
    JOIN webhooks w ON w.id = d.webhook_id
    JOIN tenants t ON t.id = d.tenant_id
    WHERE d.status IN ('pending', 'delivering')
      AND d.next_attempt_at >= :floor AND d.next_attempt_at <= :now
      AND (d.status = 'pending' OR d.lease_expires_at <= :now)
      AND w.enabled = 1 AND w.deleted_at IS NULL AND t.enabled = 1
      AND d.webhook_id NOT IN (SELECT value FROM json_each(:skip))
    ORDER BY d.next_attempt_at
    LIMIT :limit)

-- name: claim_lease
UPDATE deliveries
SET status = 'delivering', lease_token = :token, lease_expires_at = :lease_until, updated_at = :now
WHERE id IN (SELECT value FROM json_each(:ids))

-- name: claimed_details
-- The leased rows in claim order, as one JSON array of arrays (sqlite_rows.claimed reads them),
-- and their bodies, exactly as stored, as one BLOB: each row gives its body's size, in order.
-- (In the JSON, as hex, each body was written, escaped, parsed and decoded: about half of this
-- statement's work, measured in instructions.)
SELECT json_group_array(json_array(id, tenant_id, webhook_id, event_id, event, trigger, attempts,
                                   lease_token, client_cuid, body_size, url, secret_enc,
                                   ssl_verification)),
       CAST(group_concat(body, '') AS BLOB)
FROM (SELECT d.id, d.tenant_id, d.webhook_id, d.event_id, d.event, d.trigger, d.attempts,
             d.lease_token, e.client_cuid, length(CAST(e.body AS BLOB)) AS body_size, e.body,
             w.url, w.secret_enc, w.ssl_verification
      FROM json_each(:ids) j
      JOIN deliveries d ON d.id = j.value
      JOIN events e ON e.id = d.event_id
      JOIN webhooks w ON w.id = d.webhook_id
      ORDER BY j.key)

-- name: complete_deliveries
-- A whole batch of outcomes in one statement; :batch is a JSON array of
-- [id, lease_token, status, attempts, next_attempt_at, last_status_code, last_error].
-- A row changes only while its lease token matches; a retry of a webhook disabled or deleted
-- meanwhile is cancelled instead.
UPDATE deliveries
SET status = CASE
        WHEN c.status = 'pending' AND NOT EXISTS (
            SELECT 1 FROM webhooks w
            WHERE w.id = deliveries.webhook_id AND w.enabled = 1 AND w.deleted_at IS NULL)
        THEN 'cancelled' ELSE c.status END,
    attempts = c.attempts,
    next_attempt_at = CASE
        WHEN c.status = 'pending' AND EXISTS (
            SELECT 1 FROM webhooks w
            WHERE w.id = deliveries.webhook_id AND w.enabled = 1 AND w.deleted_at IS NULL)
        THEN c.next_attempt_at ELSE NULL END,
    lease_token = NULL, lease_expires_at = NULL,
    last_status_code = c.last_status_code, last_error = c.last_error, updated_at = :now
FROM (WITH r AS MATERIALIZED (SELECT value AS v FROM json_each(:batch))
      SELECT json_extract(v, '$[0]') AS id, json_extract(v, '$[1]') AS lease_token,
             json_extract(v, '$[2]') AS status, json_extract(v, '$[3]') AS attempts,
             json_extract(v, '$[4]') AS next_attempt_at,
             json_extract(v, '$[5]') AS last_status_code, json_extract(v, '$[6]') AS last_error
      FROM r) AS c
WHERE deliveries.id = c.id AND deliveries.lease_token = c.lease_token

-- name: insert_log
-- One log (sqlite_rows.log_params), positional.
INSERT INTO delivery_logs (id, tenant_id, delivery_id, webhook_id, event_id, event, client_cuid,
                           attempt, trigger, url, request_headers, request_body, status_code,
                           response_headers, response_body, duration_ms, success, error,
                           created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)

-- name: insert_logs
-- A whole batch in one statement (one step: see sqlite_queue); :logs is a JSON array of
-- sqlite_rows.log_row arrays, whose header objects are stored as their JSON text. A null
-- request body is the event's body (what every attempt of a delivery sends), copied here
-- rather than encoded into :logs once more.
INSERT INTO delivery_logs (id, tenant_id, delivery_id, webhook_id, event_id, event, client_cuid,
                           attempt, trigger, url, request_headers, request_body, status_code,
                           response_headers, response_body, duration_ms, success, error,
                           created_at)
WITH r AS MATERIALIZED (SELECT value AS v FROM json_each(:logs))
SELECT json_extract(v, '$[0]'), json_extract(v, '$[1]'), json_extract(v, '$[2]'),
       json_extract(v, '$[3]'), json_extract(v, '$[4]'), json_extract(v, '$[5]'),
       json_extract(v, '$[6]'), json_extract(v, '$[7]'), json_extract(v, '$[8]'),
       json_extract(v, '$[9]'), json_extract(v, '$[10]'), coalesce(json_extract(v, '$[11]'),
                (SELECT CAST(e.body AS TEXT) FROM events e WHERE e.id = json_extract(v, '$[4]'))),
       json_extract(v, '$[12]'), json_extract(v, '$[13]'), json_extract(v, '$[14]'),
       json_extract(v, '$[15]'), json_extract(v, '$[16]'), json_extract(v, '$[17]'),
       json_extract(v, '$[18]')
FROM r

-- name: release_deliveries
-- :leases is a JSON array of [id, lease_token].
UPDATE deliveries
SET status = 'pending', lease_token = NULL, lease_expires_at = NULL,
    next_attempt_at = :next_attempt_at, updated_at = :now
FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS lease_token
      FROM json_each(:leases)) AS r
WHERE deliveries.id = r.id AND deliveries.lease_token = r.lease_token

-- name: next_due_at
-- The IN term repeats deliveries_due's WHERE so SQLite's planner can use that partial index:
-- it does not infer it from status = 'pending', and without it this is a scan of every
-- delivery ever made (4 ms at 33,000, run each time the engine goes idle).
SELECT min(next_attempt_at) FROM deliveries
WHERE status IN ('pending', 'delivering') AND status = 'pending'

-- name: queue_stats
SELECT count(*) AS live,
       coalesce(sum(CASE WHEN next_attempt_at <= :now
                          AND (status = 'pending' OR lease_expires_at <= :now)
                         THEN 1 ELSE 0 END), 0) AS due,
       min(CASE WHEN status = 'pending' AND next_attempt_at <= :now
                THEN next_attempt_at END) AS oldest_due
FROM deliveries WHERE status IN ('pending', 'delivering')

-- name: cancel_orphans
UPDATE deliveries
SET status = 'cancelled', next_attempt_at = NULL, lease_token = NULL, lease_expires_at = NULL,
    updated_at = :now
WHERE status IN ('pending', 'delivering')
  AND (status = 'pending' OR lease_expires_at <= :now)
  AND webhook_id IN (SELECT id FROM webhooks WHERE enabled = 0 OR deleted_at IS NOT NULL)

-- name: purge_logs
DELETE FROM delivery_logs WHERE created_at < :before

-- name: purge_idempotency
DELETE FROM idempotency_keys WHERE created_at < :before

-- name: list_logs
-- The filters given take the place of the marker (store/listing.py), so that the planner can
-- pick the index that fits them; /* index */ becomes INDEXED BY where SQLite would pick the
-- wrong one (SqliteStore._listed).
SELECT * FROM delivery_logs /* index */
WHERE tenant_id = :tenant_id /* filters */
ORDER BY id DESC
LIMIT :limit

-- name: get_log
SELECT * FROM delivery_logs WHERE id = :id AND tenant_id = :tenant_id

-- name: list_deliveries
-- As list_logs: the filters given take the place of the markers.
SELECT * FROM deliveries /* index */
WHERE tenant_id = :tenant_id /* filters */
ORDER BY id DESC
LIMIT :limit

-- name: get_delivery
SELECT * FROM deliveries WHERE id = :id AND tenant_id = :tenant_id

-- name: insert_delivery
INSERT INTO deliveries (id, tenant_id, webhook_id, event_id, event, trigger, status, attempts,
                        next_attempt_at, created_at, updated_at)
VALUES (:id, :tenant_id, :webhook_id, :event_id, :event, :trigger, :status, :attempts,
        :next_attempt_at, :created_at, :updated_at)

-- name: attempt_stats
-- The window's logs by time: left to itself SQLite reads the tenant's every log through an
-- index that starts with tenant_id.
SELECT count(*) AS total, coalesce(sum(success), 0) AS succeeded
FROM delivery_logs INDEXED BY delivery_logs_created
WHERE tenant_id = :tenant_id AND created_at >= :since

-- name: webhook_activity
SELECT w.value AS webhook_id, l.created_at, l.success, l.status_code,
       (SELECT count(*) FROM deliveries d
        WHERE d.webhook_id = w.value AND d.tenant_id = :tenant_id AND d.status = 'failed'
          AND d.updated_at >= :failed_since) AS failed_recently
FROM json_each(:ids) w
LEFT JOIN delivery_logs l ON l.id = (
    SELECT max(x.id) FROM delivery_logs x
    WHERE x.tenant_id = :tenant_id AND x.webhook_id = w.value)
ORDER BY w.key
