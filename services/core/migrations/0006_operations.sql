-- 0006: the dashboard's operator pages (issue 17): image updates and deploys with their step
-- log, the deploy webhook's replay guard, and the notification bell.

-- One row per pull-and-recreate, whether an admin asked on the Updates page or the deploy
-- webhook did. At most one runs at a time across every dashboard replica: the partial unique
-- index refuses a second 'running' row. A replica that dies mid-deploy leaves its row
-- 'running'; heartbeat_at tells the next one it was abandoned.
CREATE TABLE deploys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT now(),
    trigger       text NOT NULL CHECK (trigger IN ('page', 'webhook')),
    actor_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    actor         text,                              -- username snapshot, or 'webhook'
    image         text NOT NULL,                     -- the reference pulled, repo:tag
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'succeeded', 'failed', 'rolled_back', 'abandoned')),
    steps         jsonb NOT NULL DEFAULT '[]',       -- [{"at", "step", "ok", "message"}]
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE UNIQUE INDEX deploys_one_running_idx ON deploys ((true)) WHERE status = 'running';
CREATE INDEX deploys_created_idx ON deploys (created_at DESC);

-- Signatures of accepted webhook calls inside the timestamp window: a replay of one is refused.
CREATE TABLE webhook_signatures (
    signature_sha256 text PRIMARY KEY,
    seen_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_signatures_seen_idx ON webhook_signatures (seen_at);

-- The bell. A condition (a proxy down, the collector lagging...) is raised once under its
-- dedupe key while it lasts, however many dashboard replicas notice it: the partial unique
-- index holds one open row per key. audience: 'everyone', 'admins', or 'user' (user_id set).
CREATE TABLE notifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key   text NOT NULL,
    audience     text NOT NULL CHECK (audience IN ('everyone', 'admins', 'user')),
    user_id      bigint REFERENCES users (id) ON DELETE CASCADE,
    severity     text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title        text NOT NULL,
    body         text NOT NULL DEFAULT '',
    link         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    CONSTRAINT notifications_user_audience CHECK ((audience = 'user') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX notifications_open_key_idx ON notifications (dedupe_key)
    WHERE resolved_at IS NULL;
CREATE INDEX notifications_recent_idx ON notifications (created_at DESC);

CREATE TABLE notification_dismissals (
    notification_id bigint NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    dismissed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, notification_id)
);
