-- The web UI's count of a webhook's recent failures (webhook_activity) read every delivery the
-- webhook ever had through deliveries_webhook. This index holds only the failed ones, by
-- webhook and time: pending, delivering and succeeded rows never enter it, so publishing and
-- delivering do not maintain it.
CREATE INDEX deliveries_failed ON deliveries (webhook_id, updated_at) WHERE status = 'failed';
