import type { SchemaChange } from './idb-hooks.js';
import { FILE_HEADER_LEN, frame } from './log-format.js';
import { applyOp, cloneState, type ManifestOp, type ManifestState } from './manifest.js';
import type { LogRecord } from './store-log.js';

/** One change of a committed transaction, waiting for the flush (in commit order). */
export type Committed =
  | { kind: 'data'; db: string; store: string; rec: LogRecord; payload: Buffer }
  | { kind: 'schema'; db: string; change: SchemaChange }
  | { kind: 'version'; db: string; version: number }
  | { kind: 'dropDb'; db: string };

/** Records to append to one log file. */
export interface AppendTarget {
  db: string;
  store: string;
  file: string;
  /** Created by this flush (written with a header), or appended to at `base`. */
  isNew: boolean;
  /** The log's committed end: where the appended records start. */
  base: number;
  frames: Buffer[];
  size: number;
  /** Each record with its offset relative to `base` and its frame length. */
  recs: { rec: LogRecord; rel: number; length: number }[];
}

export interface FlushPlan {
  /** The manifest state once the flush has committed. */
  work: ManifestState;
  /** The operations of the commit record. */
  ops: ManifestOp[];
  /** Log file -> what to append to it. */
  targets: Map<string, AppendTarget>;
  /** Logs of dropped stores and databases, to delete once committed. */
  dropped: string[];
  /** Folders that get new files (a new database's folder, or one with new logs). */
  newDirs: Set<string>;
}

/**
 * Turns the changes of a lock period into what one flush writes: the records to append to each
 * log, and the manifest operations that commit them. Pure: nothing is written here. File and
 * folder numbers come from `state.nextNo` (the caller holds the lock, so they are unique).
 */
export function planFlush(state: ManifestState, pending: readonly Committed[]): FlushPlan {
  const work = cloneState(state);
  const ops: ManifestOp[] = [];
  const targets = new Map<string, AppendTarget>();
  const dropped: string[] = [];
  const newDirs = new Set<string>();
  const apply = (op: ManifestOp) => {
    applyOp(work, op);
    ops.push(op);
  };
  const drop = (file: string) => {
    const t = targets.get(file);
    targets.delete(file);
    if (!t?.isNew) dropped.push(file); // a log created and dropped in one flush is never written
  };
  for (const c of pending) {
    const db = work.dbs.get(c.db);
    if (c.kind === 'version') {
      if (db) {
        apply({ op: 'version', name: c.db, version: c.version });
      } else {
        const no = work.nextNo++;
        const dir = `${safeName(c.db)}-${no}`;
        newDirs.add(dir);
        apply({ op: 'db', name: c.db, no, dir, version: c.version });
      }
    } else if (c.kind === 'dropDb') {
      if (!db) continue;
      for (const st of db.stores.values()) drop(st.file);
      apply({ op: 'dropDb', name: c.db });
    } else if (c.kind === 'schema') {
      const ch = c.change;
      if (!db) throw new Error(`Bug: schema change in unknown database ${c.db}`);
      if (ch.kind === 'store') {
        const file = `${db.dir}/${safeName(ch.name)}-${work.nextNo++}.log`;
        apply({ op: 'store', db: c.db, name: ch.name, file, keyPath: ch.keyPath, autoIncrement: ch.autoIncrement });
        targets.set(file, { db: c.db, store: ch.name, file, isNew: true, base: FILE_HEADER_LEN, frames: [], size: 0, recs: [] });
        newDirs.add(db.dir);
      } else if (ch.kind === 'dropStore') {
        drop(db.stores.get(ch.name)!.file);
        apply({ op: 'dropStore', db: c.db, name: ch.name });
      } else if (ch.kind === 'index') {
        apply({ op: 'index', db: c.db, store: ch.store, index: { name: ch.name, keyPath: ch.keyPath, unique: ch.unique, multiEntry: ch.multiEntry } });
      } else {
        apply({ op: 'dropIndex', db: c.db, store: ch.store, name: ch.name });
      }
    } else {
      const st = db?.stores.get(c.store);
      if (!st) throw new Error(`Bug: change to unknown object store ${c.db}/${c.store}`);
      let t = targets.get(st.file);
      if (!t) {
        t = { db: c.db, store: c.store, file: st.file, isNew: false, base: st.end, frames: [], size: 0, recs: [] };
        targets.set(st.file, t);
      }
      const f = frame(c.payload);
      t.recs.push({ rec: c.rec, rel: t.size, length: f.length });
      t.frames.push(f);
      t.size += f.length;
    }
  }
  for (const t of targets.values()) {
    if (t.isNew || t.size > 0) apply({ op: 'end', db: t.db, store: t.store, end: t.base + t.size });
  }
  return { work, ops, targets, dropped, newDirs };
}

/** A file name part from a database or store name (readable; uniqueness comes from the number). */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_').slice(0, 60) || '_';
}
