-- 10,000 new events in conversations of the last two days, spread across tenants: what an
-- incremental metrics run reads after a few minutes of traffic.
\set ON_ERROR_STOP on
INSERT INTO conversation_events (tenant_id, conversation_id, type, occurred_at)
SELECT a.tenant_id, a.id, (ARRAY['message_received', 'message_sent', 'handoff', 'flow_completed'])[1 + (random() * 3)::int],
       a.opened_at + random() * (now() - a.opened_at)
FROM (SELECT id, tenant_id, opened_at FROM active_conversations WHERE opened_at > now() - interval '2 days') a,
     generate_series(1, 10) AS g
ORDER BY random()
LIMIT 10000;
