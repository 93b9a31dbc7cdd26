-- 10,000 new events over the last two days, spread across tenants (an incremental metrics run's input).
\set ON_ERROR_STOP on
INSERT INTO conversation_events (tenant_id, conversation_id, type, occurred_at)
SELECT a.tenant_id, a.id, (ARRAY['message_received', 'message_sent', 'handoff', 'flow_completed'])[1 + (random() * 3)::int],
       now() - random() * interval '2 days'
FROM (SELECT id, tenant_id FROM active_conversations TABLESAMPLE SYSTEM (2) LIMIT 10000) a;
