-- Tenants, users, sessions, audit log and sign-in throttling.

CREATE TABLE clients (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug              text NOT NULL CHECK (slug ~ '^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$' AND length(slug) BETWEEN 2 AND 63),
    timezone          text NOT NULL DEFAULT 'UTC',
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'deleted')),
    tools_config      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(tools_config) = 'object'),
    -- Legacy credential columns, kept for tenants that predate client_providers.
    api_url           text,
    token             text,
    whatsapp_provider text CHECK (whatsapp_provider IN ('meta', 'uazapi', 'lancepilot')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz
);
CREATE UNIQUE INDEX clients_slug_key ON clients (slug);
CREATE INDEX clients_created_idx ON clients (created_at, id);

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid REFERENCES clients (id),
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('platform_admin', 'tenant_admin', 'agent', 'viewer')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Only a platform admin lives outside a tenant, and a platform admin never lives in one.
    CHECK ((role = 'platform_admin') = (tenant_id IS NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_tenant_idx ON users (tenant_id, created_at, id);

CREATE TABLE refresh_tokens (
    id         uuid PRIMARY KEY,
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE audit_logs (
    id          bigserial PRIMARY KEY,
    tenant_id   uuid REFERENCES clients (id),
    actor_id    uuid,
    actor_email text,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text,
    request_id  text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_logs_tenant_idx ON audit_logs (tenant_id, id DESC);

-- Fixed-window counters of failed sign-ins, keyed 'account:<email>' or 'ip:<address>'.
CREATE TABLE login_throttle (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,
    window_start timestamptz NOT NULL
);
