-- Conversation flows: an editable draft and immutable published versions.

CREATE TABLE flows (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid NOT NULL REFERENCES clients (id),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- {"type": "default"} | {"type": "keywords", "keywords": [...]} | {"type": "regex", "pattern": "..."}
    trigger           jsonb NOT NULL DEFAULT '{"type": "default"}'::jsonb CHECK (jsonb_typeof(trigger) = 'object'),
    -- {"nodes": [...], "edges": [...]}
    draft             jsonb NOT NULL CHECK (jsonb_typeof(draft) = 'object'),
    test_cases        jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(test_cases) = 'array'),
    -- Optimistic concurrency for draft saves (If-Match).
    draft_revision    integer NOT NULL DEFAULT 1,
    -- The newest published version, if any.
    published_version integer,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- Deleted flows stay for the conversations still running one of their versions.
    deleted_at        timestamptz
);
CREATE UNIQUE INDEX flows_name_key ON flows (tenant_id, lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX flows_tenant_idx ON flows (tenant_id, created_at, id);

CREATE TABLE flow_versions (
    flow_id      uuid NOT NULL REFERENCES flows (id),
    version      integer NOT NULL CHECK (version >= 1),
    tenant_id    uuid NOT NULL REFERENCES clients (id),
    trigger      jsonb NOT NULL,
    definition   jsonb NOT NULL,
    -- A rollback republishes an older version: the version it copied.
    copied_from  integer,
    published_by uuid REFERENCES users (id) ON DELETE SET NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow_id, version)
);
