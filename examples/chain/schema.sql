CREATE TABLE IF NOT EXISTS accreditation_holders (
    id text PRIMARY KEY,
    name text NOT NULL,
    category text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
