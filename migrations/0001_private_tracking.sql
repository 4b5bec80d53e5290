-- Private tracking: users, torrents and their accounting.
--
-- Portable DDL: PostgreSQL and SQLite both run this file as it is (one code
-- path through sqlx's Any driver). Hence INTEGER 0/1 for booleans (the Any
-- driver cannot decode SQLite's BOOLEAN), hex TEXT for hashes and peer ids,
-- and no foreign keys: a user or torrent deleted between an announce and the
-- flush must not make the flush fail, so accounting rows may name ids that
-- are gone.

-- Who may announce. The site writes the registration columns (or the admin
-- API does, write-through); the tracker only ever adds to the accounting ones.
CREATE TABLE users (
    id BIGINT PRIMARY KEY,
    passkey TEXT NOT NULL UNIQUE,
    can_leech INTEGER NOT NULL DEFAULT 1 CHECK (can_leech IN (0, 1)),
    upload_multiplier DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    download_multiplier DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    -- Accounting: credited bytes (after multipliers and freeleech), raw
    -- bytes, and seconds spent seeding.
    uploaded BIGINT NOT NULL DEFAULT 0,
    downloaded BIGINT NOT NULL DEFAULT 0,
    raw_uploaded BIGINT NOT NULL DEFAULT 0,
    raw_downloaded BIGINT NOT NULL DEFAULT 0,
    seed_time BIGINT NOT NULL DEFAULT 0
);

-- What may be announced. Hashes are 40 lower-case hex digits; info_hash_v2 is
-- a hybrid torrent's v2 hash truncated to 20 bytes.
CREATE TABLE torrents (
    id BIGINT PRIMARY KEY,
    info_hash TEXT NOT NULL UNIQUE CHECK (length(info_hash) = 40),
    info_hash_v2 TEXT UNIQUE CHECK (info_hash_v2 IS NULL OR length(info_hash_v2) = 40),
    freeleech TEXT NOT NULL DEFAULT 'normal' CHECK (freeleech IN ('normal', 'free', 'neutral')),
    upload_multiplier DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    download_multiplier DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    snatched BIGINT NOT NULL DEFAULT 0
);

-- Per (user, torrent) totals: additive, each batch adds to them once.
CREATE TABLE transfers (
    user_id BIGINT NOT NULL,
    torrent_id BIGINT NOT NULL,
    uploaded BIGINT NOT NULL DEFAULT 0,
    downloaded BIGINT NOT NULL DEFAULT 0,
    raw_uploaded BIGINT NOT NULL DEFAULT 0,
    raw_downloaded BIGINT NOT NULL DEFAULT 0,
    seed_time BIGINT NOT NULL DEFAULT 0,
    announces BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, torrent_id)
);
CREATE INDEX transfers_torrent ON transfers (torrent_id);

-- One row per live client session: the counters it last reported, which its
-- next delta is computed against after a restart. State: overwritten.
CREATE TABLE peers (
    user_id BIGINT NOT NULL,
    torrent_id BIGINT NOT NULL,
    peer_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    port INTEGER NOT NULL,
    uploaded BIGINT NOT NULL,
    downloaded BIGINT NOT NULL,
    left_bytes BIGINT NOT NULL,
    last_announce BIGINT NOT NULL,
    PRIMARY KEY (user_id, torrent_id, peer_id)
);
CREATE INDEX peers_last_announce ON peers (last_announce);

-- One row per completed download (a user may complete a torrent again).
CREATE TABLE snatches (
    user_id BIGINT NOT NULL,
    torrent_id BIGINT NOT NULL,
    completed_at BIGINT NOT NULL,
    batch_id BIGINT NOT NULL
);
CREATE INDEX snatches_user ON snatches (user_id);
CREATE INDEX snatches_torrent ON snatches (torrent_id);

-- The ids of the batches already applied, written in the same transaction as
-- their rows: a batch replayed from the journal after it committed finds its
-- id here and changes nothing.
CREATE TABLE applied_batches (
    id BIGINT PRIMARY KEY,
    applied_at BIGINT NOT NULL
);
