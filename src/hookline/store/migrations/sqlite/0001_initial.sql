-- Hookline schema, SQLite dialect. Times are INTEGER milliseconds since the epoch (UTC);
-- booleans are 0/1; JSON arrays are TEXT. Ids are time-ordered text (see hookline.ids).

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    role        TEXT NOT NULL CHECK (role IN ('admin', 'publisher', 'viewer')),
    key_hash    TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE event_types (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    removed_at   INTEGER
);

CREATE TABLE webhooks (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    name              TEXT NOT NULL,
    url               TEXT NOT NULL,
    client_cuids      TEXT NOT NULL DEFAULT '[]',
    events            TEXT NOT NULL,
    secret_enc        TEXT,
    ssl_verification  INTEGER NOT NULL DEFAULT 1,
    enabled           INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    deleted_at        INTEGER
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, id) WHERE deleted_at IS NULL;

-- One row per (webhook, event name): the index that fan-out and the ?event= filter use.
-- Rows of a deleted webhook are removed with it; its history lives in deliveries and logs.
CREATE TABLE webhook_subscriptions (
    webhook_id  TEXT NOT NULL REFERENCES webhooks(id),
    tenant_id   TEXT NOT NULL,
    event       TEXT NOT NULL,
    PRIMARY KEY (webhook_id, event)
);
CREATE INDEX webhook_subscriptions_fanout ON webhook_subscriptions (tenant_id, event);

CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    event        TEXT NOT NULL,
    client_cuid  TEXT,
    body         BLOB NOT NULL,          -- the exact bytes sent on every attempt
    created_at   INTEGER NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, id);

CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    response    TEXT NOT NULL,           -- the JSON answered the first time
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE deliveries (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    webhook_id        TEXT NOT NULL REFERENCES webhooks(id),
    event_id          TEXT NOT NULL REFERENCES events(id),
    event             TEXT NOT NULL,
    trigger           TEXT NOT NULL DEFAULT 'event' CHECK (trigger IN ('event', 'resend')),
    status            TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'delivering', 'succeeded', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,                -- NULL once the delivery is over
    lease_token       TEXT,
    lease_expires_at  INTEGER,
    last_status_code  INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
-- The claim query: live deliveries by due time.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, id);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE delivery_logs (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    delivery_id       TEXT,                -- NULL for a test attempt
    webhook_id        TEXT,                -- NULL for a test of an ad-hoc URL
    event_id          TEXT,
    event             TEXT NOT NULL,
    client_cuid       TEXT,
    attempt           INTEGER NOT NULL,
    trigger           TEXT NOT NULL CHECK (trigger IN ('event', 'test', 'resend')),
    url               TEXT NOT NULL,
    request_headers   TEXT NOT NULL,
    request_body      TEXT NOT NULL,
    status_code       INTEGER,
    response_headers  TEXT NOT NULL DEFAULT '{}',
    response_body     TEXT NOT NULL DEFAULT '',
    duration_ms       INTEGER NOT NULL,
    success           INTEGER NOT NULL,
    error             TEXT,
    created_at        INTEGER NOT NULL
);
CREATE INDEX delivery_logs_tenant ON delivery_logs (tenant_id, id);
CREATE INDEX delivery_logs_webhook ON delivery_logs (tenant_id, webhook_id, id);
CREATE INDEX delivery_logs_event ON delivery_logs (tenant_id, event_id, id);
CREATE INDEX delivery_logs_delivery ON delivery_logs (delivery_id, attempt);
CREATE INDEX delivery_logs_created ON delivery_logs (created_at);

-- The catalogue starts with these three.
INSERT INTO event_types (name, description, created_at) VALUES
    ('ReportPublished', 'A report was published.', CAST(strftime('%s', 'now') AS INTEGER) * 1000),
    ('AssessmentSubmitted', 'An assessment was submitted.', CAST(strftime('%s', 'now') AS INTEGER) * 1000),
    ('EngagementRequested', 'An engagement was requested.', CAST(strftime('%s', 'now') AS INTEGER) * 1000);
