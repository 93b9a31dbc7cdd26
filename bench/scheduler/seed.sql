-- Seeds a realistic scheduler workload: 1,000 tenants (four timezones, follow-ups on), 1,000,000
-- conversations over the last 90 days (a tenth still open; half of those wait on the customer)
-- and 5,000,000 conversation events. Foreign-key triggers are off while loading (superuser only).
\set ON_ERROR_STOP on
SET session_replication_role = replica;
SET synchronous_commit = off;

INSERT INTO clients (id, name, slug, timezone, tools_config)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(t), 12, '0'))::uuid, 'Bench tenant ' || t, 'bench-tenant-' || t,
       (ARRAY['America/Sao_Paulo', 'UTC', 'Europe/Lisbon', 'America/New_York'])[1 + t % 4],
       '{"followup": {"enabled": true, "after_hours": 24, "max_attempts": 2}}'::jsonb
FROM generate_series(1, 1000) AS t;

CREATE TEMP TABLE seed_conv AS
SELECT n, ('00000000-0000-4000-8000-' || lpad(to_hex(1 + n % 1000), 12, '0'))::uuid AS tenant_id,
       gen_random_uuid() AS customer_id, gen_random_uuid() AS conversation_id,
       now() - random() * interval '90 days' AS t0, random() AS r
FROM generate_series(0, 999999) AS n;

INSERT INTO customers (id, tenant_id, wa_id, profile_name)
SELECT customer_id, tenant_id, '55' || (11900000000 + n)::text, 'Customer ' || n FROM seed_conv;

INSERT INTO active_conversations (id, tenant_id, customer_id, status, last_message_at, last_inbound_at, last_outbound_at,
                                  opened_at, closed_at)
SELECT conversation_id, tenant_id, customer_id, CASE WHEN r < 0.1 THEN 'open' ELSE 'closed' END,
       t0 + interval '1 hour', t0 + interval '5 minutes',
       -- Open conversations: half answered last by the tenant (follow-up candidates), half by the customer.
       CASE WHEN r < 0.05 THEN t0 + interval '6 minutes' ELSE t0 + interval '2 minutes' END,
       t0, CASE WHEN r < 0.1 THEN NULL ELSE t0 + interval '1 hour' END
FROM seed_conv;

-- Five events per conversation: started, a message in, the first reply, a second message in, and
-- a close (or a handoff for the ones still open).
INSERT INTO conversation_events (tenant_id, conversation_id, type, occurred_at)
SELECT tenant_id, conversation_id, e.type, t0 + e.offset_s * interval '1 second'
FROM seed_conv,
LATERAL (VALUES ('conversation_started', 0.0), ('message_received', 0.0), ('message_sent', 1 + r * 120),
                ('message_received', 300.0),
                (CASE WHEN r < 0.1 THEN 'handoff' ELSE 'conversation_closed' END, 3600.0)) AS e(type, offset_s);

RESET session_replication_role;
ANALYZE clients; ANALYZE customers; ANALYZE active_conversations; ANALYZE conversation_events;
SELECT (SELECT count(*) FROM clients) AS tenants, (SELECT count(*) FROM active_conversations) AS conversations,
       (SELECT count(*) FROM conversation_events) AS events;
