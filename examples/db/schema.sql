CREATE TABLE IF NOT EXISTS partners (
    id text PRIMARY KEY,
    name text NOT NULL,
    country char(2) NOT NULL CONSTRAINT partners_country_upper CHECK (country = upper(country)),
    updated_at timestamptz NOT NULL DEFAULT now()
);
