-- Hookline schema, PostgreSQL dialect. Same tables and names as the SQLite dialect.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    role        TEXT NOT NULL CHECK (role IN ('admin', 'publisher', 'viewer')),
    key_hash    TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE event_types (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    removed_at   TIMESTAMPTZ
);

CREATE TABLE webhooks (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    name              TEXT NOT NULL,
    url               TEXT NOT NULL,
    client_cuids      JSONB NOT NULL DEFAULT '[]',
    events            JSONB NOT NULL,
    secret_enc        TEXT,
    ssl_verification  BOOLEAN NOT NULL DEFAULT TRUE,
    enabled           BOOLEAN NOT NULL DEFAULT TRUE,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    deleted_at        TIMESTAMPTZ
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, id) WHERE deleted_at IS NULL;

-- One row per (webhook, event name): the index that fan-out and the ?event= filter use.
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
    body         BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_tenant ON events (tenant_id, id);

CREATE TABLE idempotency_keys (
    tenant_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
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
    next_attempt_at   TIMESTAMPTZ,
    lease_token       TEXT,
    lease_expires_at  TIMESTAMPTZ,
    last_status_code  INTEGER,
    last_error        TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, id);
CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);
CREATE INDEX deliveries_event ON deliveries (event_id);

CREATE TABLE delivery_logs (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL,
    delivery_id       TEXT,
    webhook_id        TEXT,
    event_id          TEXT,
    event             TEXT NOT NULL,
    client_cuid       TEXT,
    attempt           INTEGER NOT NULL,
    trigger           TEXT NOT NULL CHECK (trigger IN ('event', 'test', 'resend')),
    url               TEXT NOT NULL,
    request_headers   JSONB NOT NULL,
    request_body      TEXT NOT NULL,
    status_code       INTEGER,
    response_headers  JSONB NOT NULL DEFAULT '{}',
    response_body     TEXT NOT NULL DEFAULT '',
    duration_ms       INTEGER NOT NULL,
    success           BOOLEAN NOT NULL,
    error             TEXT,
    created_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX delivery_logs_tenant ON delivery_logs (tenant_id, id);
CREATE INDEX delivery_logs_webhook ON delivery_logs (tenant_id, webhook_id, id);
CREATE INDEX delivery_logs_event ON delivery_logs (tenant_id, event_id, id);
CREATE INDEX delivery_logs_delivery ON delivery_logs (delivery_id, attempt);
CREATE INDEX delivery_logs_created ON delivery_logs (created_at);

-- The catalogue starts with these three. Times are kept to the millisecond, as in SQLite.
INSERT INTO event_types (name, description, created_at) VALUES
    ('ReportPublished', 'A report was published.', date_trunc('milliseconds', now())),
    ('AssessmentSubmitted', 'An assessment was submitted.', date_trunc('milliseconds', now())),
    ('EngagementRequested', 'An engagement was requested.', date_trunc('milliseconds', now()));
