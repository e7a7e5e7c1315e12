import { fstatSync, readdirSync, promises as fsp } from 'node:fs';
import { LocalStateError, MxError } from '../errors.js';
import { ensurePrivateDir, errorMessage, fsyncDir } from '../fs-util.js';
import type { HeldLock } from '../file-lock.js';
import { planFlush, safeName, type AppendTarget, type Committed } from './flush-plan.js';
import type { InMemoryDbs } from './in-memory.js';
import type { LogFiles } from './log-files.js';
import { damaged, FILE_HEADER_LEN, fileHeader } from './log-format.js';
import { applyOp, cloneState, referencedFiles, writeAll, type ManifestFile, type ManifestOp } from './manifest.js';
import type { PersistenceStats } from './persistent-idb.js';
import type { LiveEntry } from './store-log.js';
import { nodeCrypto } from '../builtins.js';

export interface FlushOptions {
  compactMinGarbageBytes: number;
  compactGarbageRatio: number;
  manifestRewriteBytes: number;
}

/** The error of a save that failed (or was refused): the in-memory state is now ahead of the disk. */
export function cannotSave(folder: string, err: unknown): MxError {
  if (err instanceof MxError) return err;
  return new LocalStateError(`Cannot save the crypto store ${folder}: ${errorMessage(err)}`, { cause: err });
}

/**
 * Lock exit: appends the changes of a lock period to the logs and commits them with one
 * manifest record (manifest.ts says why in that order), then compacts logs that are mostly
 * garbage and rewrites a manifest that has grown large.
 */
export class Flusher {
  /** Names this process in the manifest records it writes (for debugging). */
  private readonly writer = `${process.pid}-${nodeCrypto().randomBytes(4).toString('hex')}`;

  constructor(
    private readonly folder: string,
    private readonly manifest: ManifestFile,
    private readonly memory: InMemoryDbs,
    private readonly logs: LogFiles,
    private readonly stats: PersistenceStats,
    private readonly opts: FlushOptions,
  ) {}

  async flush(lock: HeldLock, pending: readonly Committed[]): Promise<void> {
    if (pending.length === 0) return;
    const started = performance.now();
    lock.assertHeld();
    const { work, ops, targets, dropped, newDirs } = planFlush(this.manifest.state, pending);

    // Logs first, then the manifest record that commits them.
    try {
      await this.manifest.ensureExists();
      for (const dir of newDirs) ensurePrivateDir(this.logs.path(dir));
      await Promise.all([...targets.values()].map((t) => this.writeTarget(t)));
      if (newDirs.size > 0) {
        await fsyncDir(this.folder);
        await Promise.all([...newDirs].map((d) => fsyncDir(this.logs.path(d))));
      }
      lock.assertHeld();
      if (ops.length > 0) await this.manifest.append(this.writer, work, ops);
    } catch (err) {
      throw cannotSave(this.folder, err);
    }
    this.stats.flushes++;
    this.stats.lastFlushMs = performance.now() - started;

    // Our records are now at known offsets.
    for (const t of targets.values()) {
      const mem = this.memory.dbs.get(t.db)?.stores.get(t.store);
      if (!mem?.live || work.dbs.get(t.db)?.stores.get(t.store)?.file !== t.file) continue;
      for (const r of t.recs) mem.live.apply(r.rec, t.base + r.rel, r.length, true);
    }
    for (const file of dropped) await this.logs.remove(file);

    for (const t of targets.values()) await this.maybeCompact(lock, t.db, t.store);
    if (this.manifest.size > this.opts.manifestRewriteBytes) await this.rewriteManifest();
  }

  private async writeTarget(t: AppendTarget): Promise<void> {
    const bytes = Buffer.concat(t.isNew ? [fileHeader('log'), ...t.frames] : t.frames);
    this.stats.bytesWritten += bytes.length;
    if (t.isNew) {
      await this.logs.create(t.file, bytes);
      await this.logs.open(t.file);
      return;
    }
    if (bytes.length === 0) return;
    await this.logs.open(t.file);
    const fh = this.logs.handle(t.file);
    const size = fstatSync(fh.fd).size;
    if (size < t.base) throw damaged(this.logs.path(t.file), `it is shorter (${size} bytes) than the ${t.base} the manifest says are committed`);
    // Bytes past the committed end are from a flush that never committed (a kill -9).
    if (size > t.base) await fh.truncate(t.base);
    await writeAll(fh, bytes, t.base);
    await fh.datasync();
  }

  /** Rewrites a log that is mostly garbage: its live records, copied as they are, to a new file. */
  private async maybeCompact(lock: HeldLock, db: string, store: string): Promise<void> {
    const mem = this.memory.dbs.get(db)?.stores.get(store);
    const dbDef = this.manifest.state.dbs.get(db);
    const def = dbDef?.stores.get(store);
    if (!mem?.live || !def || !dbDef) return;
    const live = mem.live.liveBytes;
    const garbage = def.end - FILE_HEADER_LEN - live;
    if (garbage <= this.opts.compactMinGarbageBytes || garbage <= live * this.opts.compactGarbageRatio) return;
    const old = this.logs.readCommitted(def);
    const work = cloneState(this.manifest.state);
    const file = `${dbDef.dir}/${safeName(store)}-${work.nextNo++}.log`;
    const parts = [fileHeader('log')];
    const moves: [LiveEntry, number][] = [];
    let pos = FILE_HEADER_LEN;
    for (const e of mem.live.entries.values()) {
      parts.push(old.subarray(e.offset, e.offset + e.length));
      moves.push([e, pos]);
      pos += e.length;
    }
    const bytes = Buffer.concat(parts);
    try {
      await this.logs.create(file, bytes);
      await fsyncDir(this.logs.path(dbDef.dir));
      lock.assertHeld();
      const op: ManifestOp = { op: 'file', db, store, file, end: pos };
      applyOp(work, op);
      await this.manifest.append(this.writer, work, [op]);
    } catch (err) {
      await fsp.rm(this.logs.path(file), { force: true }).catch(() => {});
      if (err instanceof LocalStateError) throw err;
      throw new LocalStateError(`Cannot compact the crypto store file ${this.logs.path(def.file)}: ${errorMessage(err)}`, { cause: err });
    }
    for (const [e, offset] of moves) e.offset = offset;
    this.stats.compactions++;
    this.stats.bytesWritten += bytes.length;
    await this.logs.remove(def.file);
    await this.logs.open(file);
  }

  /** Replaces the manifest by a snapshot, and removes files no state refers to (crash leftovers). */
  private async rewriteManifest(): Promise<void> {
    await this.manifest.rewrite();
    this.stats.manifestRewrites++;
    const referenced = referencedFiles(this.manifest.state);
    const dirs = new Set([...this.manifest.state.dbs.values()].map((d) => d.dir));
    for (const entry of readdirSync(this.folder, { withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.tmp')) await fsp.rm(this.logs.path(entry.name), { force: true }).catch(() => {});
      if (!entry.isDirectory()) continue;
      if (!dirs.has(entry.name)) {
        if (/-\d+$/.test(entry.name)) await fsp.rm(this.logs.path(entry.name), { recursive: true, force: true }).catch(() => {});
        continue;
      }
      for (const f of readdirSync(this.logs.path(entry.name))) {
        const rel = `${entry.name}/${f}`;
        if (f.endsWith('.log') && !referenced.has(rel)) await fsp.rm(this.logs.path(rel), { force: true }).catch(() => {});
      }
    }
  }
}
