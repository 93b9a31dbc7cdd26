-- The flow engine: per-conversation work queue, conversation flow state, reply outbox, module cache.

-- Inbound messages the bot has not handled yet. Set by the webhook, cleared by the engine in the
-- same transaction that records the turn, so a crash mid-turn leaves them to be handled again.
ALTER TABLE chat_messages ADD COLUMN awaiting_bot boolean NOT NULL DEFAULT false;
CREATE INDEX chat_messages_awaiting_bot_idx ON chat_messages (conversation_id, created_at) WHERE awaiting_bot;

-- Where the conversation is in its flow: {"flow_id", "version", "node", "status", "variables", ...}.
-- Not indexed, so the engine's updates stay HOT like the webhook's.
ALTER TABLE active_conversations ADD COLUMN flow_state jsonb;

-- One row per conversation with work for the engine: new messages (due after the tenant's
-- debounce) or a `wait` node's timer. Workers claim rows with FOR UPDATE SKIP LOCKED and hold a
-- lease while they run the turn; a lease left by a dead worker expires and the row is taken over.
CREATE TABLE engine_queue (
    conversation_id uuid PRIMARY KEY REFERENCES active_conversations (id) ON DELETE CASCADE,
    tenant_id       uuid NOT NULL REFERENCES clients (id),
    due_at          timestamptz NOT NULL,
    -- Bumped by every new message: a turn that started before it does not drop the row.
    generation      bigint NOT NULL DEFAULT 1,
    lease_token     uuid,
    lease_until     timestamptz,
    -- Failed turns in a row (the turn is retried with backoff, then given up).
    failures        integer NOT NULL DEFAULT 0,
    last_error      text
);
CREATE INDEX engine_queue_due_idx ON engine_queue (due_at);

-- Replies the engine committed and is sending. The turn's commit writes them here; each leaves
-- when its outcome is recorded. One still here after its worker's claim expired was in flight
-- when that worker stopped: it may or may not have reached WhatsApp (which has no idempotency
-- key), so it is marked failed, never sent again.
CREATE TABLE engine_outbox (
    seq             bigserial PRIMARY KEY,
    message_id      uuid NOT NULL UNIQUE REFERENCES chat_messages (id) ON DELETE CASCADE,
    tenant_id       uuid NOT NULL REFERENCES clients (id),
    conversation_id uuid NOT NULL REFERENCES active_conversations (id) ON DELETE CASCADE,
    claim_until     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX engine_outbox_conversation_idx ON engine_outbox (conversation_id, seq);

-- The `cache` module: key/value with TTL, per tenant or per conversation.
CREATE TABLE module_cache (
    tenant_id  uuid NOT NULL REFERENCES clients (id),
    -- 'tenant' or the conversation's id.
    scope      text NOT NULL CHECK (length(scope) BETWEEN 1 AND 64),
    key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 256),
    value      jsonb NOT NULL,
    expires_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scope, key)
);
CREATE INDEX module_cache_expiry_idx ON module_cache (expires_at) WHERE expires_at IS NOT NULL;

-- Tenant settings forms send back a masked secret to mean "keep the stored one".
CREATE FUNCTION pytake_keep_secret(new jsonb, old jsonb, path text[], keep boolean) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN NOT keep THEN new
                WHEN old #> path IS NOT NULL THEN jsonb_set(new, path, old #> path)
                ELSE new #- path END
$$;
