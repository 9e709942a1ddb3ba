-- schema.sql — rtlab's message store.  Create a database with
--   sqlite3 /var/lib/rtlab/rtlab.db < sql/schema.sql
-- Safe to run again on an existing database.

-- WAL: readers never block the writer and the writer never blocks readers,
-- so held long-polls and SSE streams can read while send.fcgi commits.  It is
-- also what the change wait watches: every commit appends to rtlab.db-wal.
-- The mode is stored in the file, so every later connection gets it.
-- https://www.sqlite.org/wal.html
--
-- busy_timeout: a running server (the helper, held processes) opens a new
-- database as soon as its file appears, and takes a lock for a moment to
-- check its schema.  Wait for it, up to 5 s, instead of failing with
-- "database is locked" (the sqlite3 shell's default is not to wait).
PRAGMA busy_timeout = 5000;
PRAGMA journal_mode = WAL;

-- Everything below is one transaction: a server that opens the file while
-- this runs sees no schema (and tries again a second later) or all of it,
-- never a half.
BEGIN IMMEDIATE;

CREATE TABLE IF NOT EXISTS messages (
	-- AUTOINCREMENT: ids never go back, even after retention deletes the
	-- newest rows of a channel, so an id is always a safe resume cursor.
	-- https://www.sqlite.org/autoinc.html
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	channel TEXT    NOT NULL CHECK (length(channel) BETWEEN 1 AND 64),
	user    TEXT    NOT NULL CHECK (length(user) BETWEEN 1 AND 32),
	text    TEXT    NOT NULL CHECK (length(CAST(text AS BLOB)) BETWEEN 1 AND 4096),
	ts      INTEGER NOT NULL,            -- ms since the epoch, when stored
	via     TEXT    NOT NULL CHECK (via IN ('http', 'ws')),
	-- The message's name (SPEC "Messages"): SSE writes it as the "event:"
	-- line.  A database made before this column existed gets it from
	-- store_open() (lib/store.c migrate(), the same declaration as
	-- STORE_EVENT_COLUMN in lib/store.h); its messages keep 'message'.
	event   TEXT    NOT NULL DEFAULT 'message' CHECK (length(event) BETWEEN 1 AND 32
	                AND event GLOB '[a-z]*' AND event NOT GLOB '*[^a-z0-9_-]*')
);

-- Every read is "messages of one channel after an id".
CREATE INDEX IF NOT EXISTS messages_channel_id ON messages (channel, id);

-- Retention's bookkeeping (lib/store.c, docs/store.md "Retention"): per
-- channel, how many messages it holds and its newest id.  The two triggers
-- keep it exact whoever writes (an endpoint, the helper, the sqlite3 shell),
-- so an insert learns its channel's size with one key lookup instead of
-- counting rows, and the channel idle longest is the one with the smallest
-- last_id.  https://www.sqlite.org/lang_createtrigger.html
CREATE TABLE IF NOT EXISTS channels (
	name    TEXT    PRIMARY KEY,
	n       INTEGER NOT NULL,             -- messages stored
	last_id INTEGER NOT NULL              -- its newest message's id
) WITHOUT ROWID;

-- A database made before the channels table gets it from store_open()
-- (lib/store.c migrate(), the same statements as CHANNELS_SCHEMA there);
-- running this file again does the same.  The triggers and the first count
-- are in the one transaction, so no insert can slip in between and be
-- counted twice or not at all.
CREATE TRIGGER IF NOT EXISTS channels_count_insert AFTER INSERT ON messages
BEGIN
	INSERT INTO channels (name, n, last_id) VALUES (NEW.channel, 1, NEW.id)
	ON CONFLICT (name) DO UPDATE SET n = n + 1, last_id = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS channels_count_delete AFTER DELETE ON messages
BEGIN
	UPDATE channels SET n = n - 1 WHERE name = OLD.channel;
	DELETE FROM channels WHERE name = OLD.channel AND n <= 0;
END;
INSERT OR IGNORE INTO channels (name, n, last_id)
	SELECT channel, count(*), max(id) FROM messages GROUP BY channel;
COMMIT;
