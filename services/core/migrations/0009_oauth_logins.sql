-- 0009: the dashboard side of OAuth accounts (issue 15, docs/dashboard.md "OAuth accounts").
--
-- `oauth_logins`: a login the dashboard started, so any dashboard replica can answer its status
-- polls, its pasted redirect URL and its cancel, and claim the resulting file for the user who
-- started it. `proxy_url` is the proxy replica holding the login (a login lives in one proxy's
-- memory); `known_files` the auth-file names that existed when it started, so the new file is
-- told apart.
CREATE TABLE oauth_logins (
    state        text PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     text NOT NULL,
    proxy_url    text NOT NULL,
    known_files  text[] NOT NULL DEFAULT '{}',
    account_name text,                          -- set once the file is claimed
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX oauth_logins_created_idx ON oauth_logins (created_at);

-- One provider quota lookup per account per minute across every viewer and replica.
CREATE TABLE oauth_quota_cache (
    auth_index text PRIMARY KEY,
    fetched_at timestamptz NOT NULL,
    report     jsonb,
    error      text
);
