-- schema.sql — rtlab's message store.  Create a database with
--   sqlite3 /var/lib/rtlab/rtlab.db < sql/schema.sql
-- Safe to run again on an existing database.

-- WAL: readers never block the writer and the writer never blocks readers,
-- so held long-polls and SSE streams can read while send.fcgi commits.  It is
-- also what the change wait watches: every commit appends to rtlab.db-wal.
-- The mode is stored in the file, so every later connection gets it.
-- https://www.sqlite.org/wal.html
PRAGMA journal_mode = WAL;

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
