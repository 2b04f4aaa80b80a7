/**
 * Crash-safe replacement of a whole folder (a saved model, a trainer checkpoint).
 *
 * A folder cannot be replaced by one rename, and Node has no atomic exchange, so a replace
 * takes several steps; a hidden sibling's name records which step it belongs to:
 *
 *   .NAME.tmp-PID-ID  being written (never complete)
 *   .NAME.new-PID-ID  complete and synced, waiting to take NAME's place
 *   .NAME.old-PID-ID  the previous NAME, moved aside for the new one
 *   .NAME.del-PID-ID  a folder being deleted
 *
 * Sequence: write `tmp` → rename it to `new` → rename NAME to `old` → rename `new` to NAME →
 * delete `old`. A process killed between any two steps leaves NAME or a hidden complete copy;
 * `recoverFolder` (run before every load and every save of NAME) puts the newest complete copy
 * back at NAME and deletes the leftovers. Leftovers of a process that is still running are left
 * alone (it may be mid-save), except that a missing NAME is always restored.
 *
 * Single files are replaced by the native writer in one rename (`.NAME.tmp-PID-N`, then NAME),
 * so only a kill before that rename leaves something: the temporary file, swept by
 * `removeStaleTempFiles` on the next save or load of NAME.
 *
 * On Linux every ID ends with a mark of the writing process, `-START-BOOT-NS` (see
 * `writerRunning`): PIDs alone are reused, and mean nothing in another PID namespace. The native
 * writer (crates/mlxn-io/src/atomic.rs) marks its temporary files the same way.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export type HiddenKind = 'tmp' | 'new' | 'old' | 'del';

// The id may hold dashes: earlier versions named copies `.NAME.old-PID-TIME-RANDOM`.
const HIDDEN = /^\.(.+)\.(tmp|new|old|del)-(\d+)-([0-9a-z][0-9a-z-]*)$/;
// An id ending in a writer mark: UNIQUE-START-BOOT-NS (hex; earlier ids have at most one dash).
const MARKED_ID = /^[0-9a-z]+-([0-9a-f]+)-([0-9a-f]{8})-([0-9a-f]+)$/;

/** Who wrote a hidden name, beyond its PID (Linux; see `writerRunning`). */
interface WriterMark {
  /** Start time of the process, in clock ticks after boot (field 22 of /proc/PID/stat). */
  start: number;
  /** The first 8 hex digits of the boot id (/proc/sys/kernel/random/boot_id). */
  boot: string;
  /** The inode of the process's PID namespace (/proc/PID/ns/pid). */
  ns: number;
}

export interface HiddenEntry {
  name: string;
  kind: HiddenKind;
  pid: number;
  /** Absent in names written without /proc (other systems) or by earlier versions. */
  mark?: WriterMark;
}

/** Hidden folders this process is writing right now (never treated as leftovers). */
const inFlight = new Set<string>();
let counter = 0;

/** A process that cannot be seen (another PID namespace or machine) counts as running while
 * what it left changes this recently. */
const UNSEEN_WRITER_GRACE_MS = 60 * 60 * 1000;

/** Field 22 of /proc/PID/stat (the start time), or undefined where it cannot be read. */
function startTimeOf(pid: number | 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    const start = Number(
      stat
        .slice(stat.lastIndexOf(')') + 1)
        .trim()
        .split(/\s+/)[19],
    );
    return Number.isSafeInteger(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

let ownMark: WriterMark | null | undefined;

/** This process's mark, or null where /proc does not give one. Read once. */
function processMark(): WriterMark | null {
  if (ownMark !== undefined) return ownMark;
  ownMark = null;
  try {
    const start = startTimeOf('self');
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1')
      .replace(/[^0-9a-fA-F]/g, '')
      .slice(0, 8)
      .toLowerCase();
    const ns = /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'));
    if (start !== undefined && boot.length === 8 && ns) ownMark = { start, boot, ns: Number(ns[1]) };
  } catch {
    // No /proc: names carry the PID only.
  }
  return ownMark;
}

/** `.NAME.KIND-PID-ID`: a hidden sibling of NAME for one step of a replace. */
export function hiddenName(name: string, kind: HiddenKind): string {
  const id = `${(counter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const m = processMark();
  const mark = m ? `-${m.start.toString(16)}-${m.boot}-${m.ns.toString(16)}` : '';
  return `.${name}.${kind}-${process.pid}-${id}${mark}`;
}

/** The parts of a hidden sibling's name, or null for any other name. */
export function parseHiddenName(name: string): HiddenEntry | null {
  const m = HIDDEN.exec(name);
  if (!m) return null;
  const h: HiddenEntry = { name: m[1], kind: m[2] as HiddenKind, pid: Number(m[3]) };
  const mark = MARKED_ID.exec(m[4]);
  if (mark) h.mark = { start: Number.parseInt(mark[1], 16), boot: mark[2], ns: Number.parseInt(mark[3], 16) };
  return h;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `h` was written by this very process (its PID, and its mark where both have one). */
export function writtenByThisProcess(h: HiddenEntry): boolean {
  if (h.pid !== process.pid) return false;
  const me = processMark();
  return h.mark === undefined || me === null || (h.mark.start === me.start && h.mark.boot === me.boot && h.mark.ns === me.ns);
}

/** The newest modification time of `path` and, for a folder, of its entries (0 if gone). */
function lastChange(path: string): number {
  try {
    const st = lstatSync(path);
    let t = st.mtimeMs;
    if (st.isDirectory()) {
      for (const e of readdirSync(path)) {
        try {
          t = Math.max(t, lstatSync(join(path, e)).mtimeMs);
        } catch {
          // Removed meanwhile.
        }
      }
    }
    return t;
  } catch {
    return 0;
  }
}

/**
 * Whether the process that wrote the hidden entry `h` (at `path`) may still be running: this
 * process, or one that `writerRunning` cannot prove gone. Marked names are judged by the mark:
 *
 * - same boot and PID namespace: running only if a process with that PID exists *and* started
 *   at the recorded time, so a PID reused by an unrelated process no longer keeps a leftover
 *   forever (a restarted container's process often gets the same small PID);
 * - another boot id or PID namespace (a reboot, another container or machine sharing the
 *   folder): its PID cannot be looked up here, so it counts as running while `path` (or, for a
 *   folder, one of its entries) changed within `UNSEEN_WRITER_GRACE_MS`, and as gone after.
 *
 * Unmarked names (other systems, earlier versions) are judged by the PID alone. Where
 * /proc/PID/stat cannot be read (hidden by `hidepid`), a process that exists counts as running.
 */
export function writerRunning(h: HiddenEntry, path: string): boolean {
  if (writtenByThisProcess(h)) return true;
  const me = processMark();
  if (h.mark === undefined || me === null) return processAlive(h.pid);
  if (h.mark.boot !== me.boot || h.mark.ns !== me.ns) return Date.now() - lastChange(path) < UNSEEN_WRITER_GRACE_MS;
  const start = startTimeOf(h.pid);
  return start === undefined ? processAlive(h.pid) : start === h.mark.start;
}

/** `path` resolved, its folder, its name and the folder's entries (undefined if unreadable). */
function siblingsOf(path: string): { full: string; parent: string; name: string; entries: string[] } | undefined {
  const full = resolve(path);
  const parent = dirname(full);
  try {
    return { full, parent, name: basename(full), entries: readdirSync(parent) };
  } catch {
    return undefined;
  }
}

/**
 * Deletes the temporary files that killed processes left beside `file` while writing it
 * (`.NAME.tmp-PID-N`, regular files only). A temporary of a running process — this one
 * included, or another thread or process saving NAME right now — is left alone. Best effort:
 * a file that cannot be removed stays for the next save.
 */
export function removeStaleTempFiles(file: string): void {
  const listing = siblingsOf(file);
  if (listing === undefined) return;
  const { parent, name, entries } = listing;
  for (const entry of entries) {
    const h = parseHiddenName(entry);
    if (h?.kind !== 'tmp' || h.name !== name) continue;
    const path = join(parent, entry);
    if (writerRunning(h, path)) continue;
    try {
      if (lstatSync(path).isFile()) unlinkSync(path);
    } catch {
      // Gone already, or not ours to remove: the save itself does not depend on it.
    }
  }
}

/** Whether a hidden folder is a leftover: not being written by this process or a running one. */
function isLeftover(path: string, h: HiddenEntry): boolean {
  if (inFlight.has(path)) return false;
  return writtenByThisProcess(h) || !writerRunning(h, path);
}

function fsyncPath(path: string): void {
  try {
    const fd = openSync(path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some platforms cannot open a folder for syncing; the renames stay atomic there.
  }
}

/** Syncs every file and folder under `dir` (and `dir`), so a rename of `dir` publishes durable data. */
export function syncTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) syncTree(p);
    else if (entry.isFile()) fsyncPath(p);
  }
  fsyncPath(dir);
}

/** Syncs a folder's entries (after a rename in it). */
export function syncFolder(dir: string): void {
  fsyncPath(dir);
}

function isDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Deletes a folder so that a kill midway never leaves a partial folder under its own name:
 * renamed to a hidden `.del` sibling first, then removed (a leftover is swept by recovery).
 */
export function removeFolder(path: string): void {
  const full = resolve(path);
  const trash = join(dirname(full), hiddenName(basename(full), 'del'));
  renameSync(full, trash);
  syncFolder(dirname(full));
  rmSync(trash, { recursive: true, force: true });
}

/**
 * Puts the newest complete copy of `target` back in place after an interrupted replace and
 * deletes the leftovers of interrupted writes. Cheap when there is nothing to do (one listing
 * of the parent folder). A failure to clean up is an error only when `target` is missing.
 */
export function recoverFolder(target: string, isComplete?: (folder: string) => boolean): void {
  const listing = siblingsOf(target);
  if (listing === undefined) return;
  const { full, parent, name, entries } = listing;
  const mine = entries.flatMap((e) => {
    const h = parseHiddenName(e);
    return h !== null && h.name === name && isDir(join(parent, e)) ? [{ path: join(parent, e), ...h }] : [];
  });
  if (mine.length === 0) return;
  try {
    recoverEntries(full, mine, isComplete);
  } catch (e) {
    if (!existsSync(full)) {
      throw new Error(`${full}: an interrupted save left hidden copies beside it that cannot be restored (${(e as Error).message})`);
    }
  }
}

function recoverEntries(full: string, mine: (HiddenEntry & { path: string })[], isComplete?: (folder: string) => boolean): void {
  const parent = dirname(full);
  const newestFirst = (kind: HiddenKind, leftoversOnly: boolean) =>
    mine
      .filter((h) => h.kind === kind && !inFlight.has(h.path) && (!leftoversOnly || isLeftover(h.path, h)))
      .sort((a, b) => mtime(b.path) - mtime(a.path));
  const used = new Set<string>();
  if (!existsSync(full)) {
    // Killed between the two renames (or the old copy was being put back): the complete new
    // copy wins, else the old one. Done even when its writer lives: NAME must not stay empty.
    // Earlier versions moved the old copy aside under a `tmp` name: a complete one is used last.
    const pick =
      newestFirst('new', false)[0] ??
      newestFirst('old', false)[0] ??
      (isComplete ? newestFirst('tmp', true).find((h) => isComplete(h.path)) : undefined);
    if (pick) {
      renameSync(pick.path, full);
      syncFolder(parent);
      used.add(pick.path);
    }
  } else {
    // Killed after the new copy was complete but before the swap: finish the swap.
    const ready = newestFirst('new', true)[0];
    if (ready) {
      const old = join(parent, hiddenName(basename(full), 'old'));
      renameSync(full, old);
      renameSync(ready.path, full);
      syncFolder(parent);
      used.add(ready.path);
      rmSync(old, { recursive: true, force: true });
    }
  }
  for (const h of mine) {
    if (used.has(h.path) || !isLeftover(h.path, h) || !existsSync(h.path)) continue;
    rmSync(h.path, { recursive: true, force: true });
  }
}

/** A replace in progress: fill `temp`, then `commit()` (or `abort()` on failure). */
export interface FolderReplace {
  /** The hidden folder to write the new contents into. */
  readonly temp: string;
  /** Publishes `temp` as the target (syncing it first); the old target is deleted. */
  commit(): void;
  /** Deletes `temp`; the target stays as it was. */
  abort(): void;
}

/**
 * Starts replacing the folder `target` (which need not exist). Recovers an earlier interrupted
 * replace of it first. A target that is itself a hidden folder this process is writing (a
 * model saved into a checkpoint's temporary folder) is written in place: it is not published yet.
 */
export function beginFolderReplace(target: string): FolderReplace {
  const full = resolve(target);
  if (inFlight.has(full)) return { temp: full, commit: () => {}, abort: () => {} };
  recoverFolder(full);
  const parent = dirname(full);
  const name = basename(full);
  mkdirSync(parent, { recursive: true });
  const temp = join(parent, hiddenName(name, 'tmp'));
  mkdirSync(temp);
  inFlight.add(temp);
  let done = false;
  return {
    temp,
    commit() {
      if (done) throw new Error(`${full}: replace already finished`);
      done = true;
      try {
        syncTree(temp);
        const ready = join(parent, hiddenName(name, 'new'));
        inFlight.add(ready);
        renameSync(temp, ready);
        inFlight.delete(temp);
        syncFolder(parent);
        try {
          let old: string | null = null;
          if (existsSync(full)) {
            old = join(parent, hiddenName(name, 'old'));
            renameSync(full, old);
          }
          renameSync(ready, full);
          syncFolder(parent);
          if (old !== null) {
            rmSync(old, { recursive: true, force: true });
          }
        } finally {
          inFlight.delete(ready);
        }
      } catch (e) {
        inFlight.delete(temp);
        rmSync(temp, { recursive: true, force: true });
        // A rename that failed halfway leaves hidden copies: put the newest complete one back.
        recoverFolder(full);
        throw e;
      }
    },
    abort() {
      if (done) return;
      done = true;
      inFlight.delete(temp);
      rmSync(temp, { recursive: true, force: true });
    },
  };
}

/** Whether `path` is a hidden folder this process is writing now. */
export function isInFlight(path: string): boolean {
  return inFlight.has(resolve(path));
}

/** Registers a hidden folder as being written by this process (see `isInFlight`). */
export function markInFlight(path: string, on: boolean): void {
  if (on) inFlight.add(resolve(path));
  else inFlight.delete(resolve(path));
}

/**
 * Sweeps the leftovers of every interrupted replace in `dir` whose target `accept`s: each
 * target is recovered, and hidden folders of hidden targets (nested temporaries) are deleted.
 */
export function recoverFolders(dir: string, accept: (name: string) => boolean, isComplete?: (folder: string) => boolean): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  const names = new Set<string>();
  for (const e of entries) {
    const h = parseHiddenName(e);
    if (h === null) continue;
    const inner = parseHiddenName(h.name);
    if (accept(h.name)) names.add(h.name);
    else if (inner !== null) {
      const p = join(dir, e);
      // A temporary of a temporary (a folder saved into a checkpoint being written).
      if (isLeftover(p, h) && isLeftover(join(dir, h.name), inner) && isDir(p)) {
        rmSync(p, { recursive: true, force: true });
      }
    }
  }
  for (const n of names) recoverFolder(join(dir, n), isComplete);
}
