// ws.js — what the WebSocket tests share: a client that records every JSON
// frame and its close code, a wait for a condition, and a database of a
// test's own for the helpers it spawns.
//
//   const ws = await openWs(`${url}?channel=x&history=0`);   // ws.frames, ws.closeCode
//   await until(() => messages(ws).length === 3, 10000, 'three messages');
//   const db = newDb();    // a fresh store from sql/schema.sql in /tmp

import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, chmodSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { ROOT } from './servers.js';

/** Opens a WebSocket; resolves once open, with frames parsed as JSON. */
export function openWs(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.frames = [];
    ws.closeCode = null;
    ws.on('message', (d) => ws.frames.push(JSON.parse(d.toString())));
    ws.on('close', (c) => { ws.closeCode = c; });
    ws.once('open', () => { ws.localPort = ws._socket.localPort; resolve(ws); });
    ws.once('error', reject);
  });
}

/** The stored messages among a client's frames. */
export const messages = (ws) => ws.frames.filter((f) => f.type === 'message').map((f) => f.message);

/** Polls pred every 20 ms; throws after ms. */
export async function until(pred, ms = 10000, what = 'condition') {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A path for a database in a new /tmp directory (not created yet). */
export function newDbPath() {
  const dir = mkdtempSync('/tmp/rtlab-wsx-');
  chmodSync(dir, 0o755);
  return path.join(dir, 'rtlab.db');
}

/** Creates the schema at db (sql/schema.sql, with the sqlite3 CLI). */
export function createDb(db) {
  execFileSync('sqlite3', [db], { input: readFileSync(path.join(ROOT, 'sql', 'schema.sql')) });
  return db;
}

/** A fresh store of a test's own. */
export const newDb = () => createDb(newDbPath());
