-- pytake-scheduler: job leases and runs, daily metrics, follow-ups.

-- Periodic jobs. One row per job; a replica runs a job only while it holds the row's lease, taken
-- and renewed with the database's clock. `run_id` points at the run in progress: a run whose lease
-- expired (its replica died) is taken over by the next replica that looks.
CREATE TABLE job_schedule (
    job         text PRIMARY KEY CHECK (length(job) BETWEEN 1 AND 64),
    next_run_at timestamptz NOT NULL,
    run_id      bigint,
    lease_owner text,
    lease_until timestamptz
);

CREATE TABLE job_runs (
    id            bigserial PRIMARY KEY,
    job           text NOT NULL,
    -- The slot this run serves: the schedule's due time, or the moment an operator asked for it.
    scheduled_for timestamptz NOT NULL,
    trigger       text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status        text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
    -- Which replica ran it (host, process id and a random suffix).
    owner         text NOT NULL,
    -- The run this one took over from, when its replica stopped mid-run.
    takeover_of   bigint REFERENCES job_runs (id),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    -- What an operator asked for (`{"rebuild", "tenant_id", "dry_run"}`); a takeover runs the same.
    options       jsonb NOT NULL DEFAULT '{}'::jsonb,
    counts        jsonb NOT NULL DEFAULT '{}'::jsonb,
    error         text,
    CHECK ((status = 'running') = (finished_at IS NULL))
);
-- Each slot runs once: at most one live or successful run per job and slot.
CREATE UNIQUE INDEX job_runs_slot_key ON job_runs (job, scheduled_for) WHERE status IN ('running', 'succeeded');
CREATE INDEX job_runs_started_idx ON job_runs (started_at DESC, id DESC);

-- Events: the metrics job reads new events by the transaction that wrote them (a sequence value is
-- taken before commit, so ids commit out of order; a transaction id compared with the previous
-- run's snapshot cannot be missed), and recomputes whole tenant days by occurred_at.
DROP INDEX conversation_events_tenant_idx;
ALTER TABLE conversation_events ADD COLUMN xact xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX conversation_events_xact_idx ON conversation_events (xact);
CREATE INDEX conversation_events_day_idx ON conversation_events (tenant_id, occurred_at);
-- First response: a conversation's start and its first reply.
CREATE INDEX conversation_events_response_idx ON conversation_events (conversation_id, occurred_at)
    WHERE type IN ('conversation_started', 'message_sent');

-- Days are cut with `AT TIME ZONE clients.timezone`: a name PostgreSQL does not know would stop
-- every tenant's metrics run, so it cannot be stored (the API also checks names against the IANA
-- list; this catches a name one knows and the other does not). NOT VALID: existing rows were
-- checked by the API already.
CREATE FUNCTION pytake_known_zone(name text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE name;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
ALTER TABLE clients ADD CONSTRAINT clients_timezone_known CHECK (pytake_known_zone(timezone)) NOT VALID;

-- One row per tenant and day (in the tenant's timezone), recomputed from conversation_events.
CREATE TABLE metrics_daily (
    tenant_id                      uuid NOT NULL REFERENCES clients (id),
    day                            date NOT NULL,
    messages_in                    bigint NOT NULL DEFAULT 0,
    messages_out                   bigint NOT NULL DEFAULT 0,
    conversations_started          bigint NOT NULL DEFAULT 0,
    conversations_closed           bigint NOT NULL DEFAULT 0,
    handoffs                       bigint NOT NULL DEFAULT 0,
    followups_sent                 bigint NOT NULL DEFAULT 0,
    flows_completed                bigint NOT NULL DEFAULT 0,
    -- Conversations started this day that got a reply, and how long the first reply took.
    responded_conversations        bigint NOT NULL DEFAULT 0,
    first_response_median_seconds  double precision,
    first_response_avg_seconds     double precision,
    updated_at                     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);

-- What the metrics job has read: the snapshot of its last run (events visible in it are counted).
CREATE TABLE metrics_watermark (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seen       pg_snapshot NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The timezone each tenant's days were cut in: a tenant whose timezone changed is rebuilt.
CREATE TABLE metrics_tenants (
    tenant_id uuid PRIMARY KEY REFERENCES clients (id),
    timezone  text NOT NULL
);

-- Follow-ups: one row per conversation and attempt, written before the message leaves, so a crash
-- or a second replica never sends the same attempt twice.
CREATE TABLE followups (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES clients (id),
    conversation_id uuid NOT NULL REFERENCES active_conversations (id),
    attempt         integer NOT NULL CHECK (attempt >= 1),
    message_id      uuid NOT NULL REFERENCES chat_messages (id),
    kind            text NOT NULL CHECK (kind IN ('text', 'template')),
    -- pending: being sent; unknown: its run died mid-send (never sent again).
    status          text NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'unknown')),
    tries           integer NOT NULL DEFAULT 1,
    run_id          bigint REFERENCES job_runs (id),
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, attempt)
);
CREATE INDEX followups_pending_idx ON followups (run_id) WHERE status = 'pending';

-- Follow-up candidates: open conversations the bot may speak in, by the tenant's last message.
-- Only replies change last_outbound_at, so the webhook's updates stay HOT.
CREATE INDEX active_conversations_followup_idx ON active_conversations (last_outbound_at)
    WHERE status = 'open' AND NOT bot_paused;
