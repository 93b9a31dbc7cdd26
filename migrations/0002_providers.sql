-- Communication providers per tenant (several instances of a type are allowed). Secrets are
-- stored sealed by the application (AES-256-GCM, "v1:<key id>:<base64>"), never in clear.

CREATE TABLE client_providers (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid NOT NULL REFERENCES clients (id),
    provider_type text NOT NULL CHECK (provider_type IN ('meta', 'uazapi', 'lancepilot')),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    active        boolean NOT NULL DEFAULT true,
    -- Higher wins when several active instances of a type could serve.
    priority      integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    -- Null: the platform default for the type (META_GRAPH_URL, LANCEPILOT_API_URL).
    api_url       text CHECK (length(api_url) <= 2048),
    token         text NOT NULL CHECK (token LIKE 'v1:%'),
    -- Meta only: overrides META_APP_SECRET for webhook signatures of this number.
    app_secret    text CHECK (app_secret LIKE 'v1:%'),
    -- Non-secret settings, typed per provider_type by the application.
    config        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (provider_type <> 'meta' OR config ? 'phone_number_id'),
    CHECK (provider_type <> 'lancepilot' OR config ? 'workspace_id'),
    CHECK (provider_type = 'meta' OR app_secret IS NULL)
);
CREATE UNIQUE INDEX client_providers_name_key ON client_providers (tenant_id, lower(name));
-- A WhatsApp number belongs to one tenant: webhooks are routed by it.
CREATE UNIQUE INDEX client_providers_phone_number_key ON client_providers ((config ->> 'phone_number_id'))
    WHERE provider_type = 'meta';
-- Credential resolution: the best active instance of a type for a tenant.
CREATE INDEX client_providers_resolve_idx ON client_providers (tenant_id, provider_type, priority DESC, updated_at DESC)
    WHERE active;
CREATE INDEX client_providers_tenant_idx ON client_providers (tenant_id, created_at, id);
