import type { Annotation } from "./api";

/**
 * Saves run one after another (each PUT carries the whole object list, so order matters: the last
 * edit must land last), and the queue knows whether anything exists only in the page: a save in
 * flight, or a failed one that the next edit will retry.
 */
export class SaveQueue {
  private chain: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private failed = false;

  /** Queue `job`; it runs after every earlier one, whether they succeeded or not. */
  run(job: () => Promise<void>): Promise<unknown> {
    this.pending++;
    const wrapped = async () => {
      try {
        await job();
        this.failed = false;
      } catch (e) {
        this.failed = true;
        throw e;
      } finally {
        this.pending--;
      }
    };
    const result = this.chain.then(wrapped, wrapped);
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Resolves when every queued save has finished (successfully or not). */
  flush(): Promise<unknown> {
    return this.chain;
  }

  get hasUnsaved(): boolean {
    return this.pending > 0 || this.failed;
  }
}

/** The stored list as this page last saw it: object id -> its JSON (to tell which objects it edited). */
export type SyncedList = Map<number, string>;

export function syncedList(annotations: Annotation[]): SyncedList {
  return new Map(annotations.flatMap((a) => (a.id === undefined ? [] : [[a.id, JSON.stringify(a)] as [number, string]])));
}

/**
 * Three-way merge of an image's object list after a save conflict (409).
 * theirs: the list now stored (another client saved it); mine: this page's list; base: the stored
 * list this page last synced with. Objects added on either side are kept; an object deleted on either
 * side is deleted; an object edited on this page takes this page's version, otherwise theirs.
 * Order: theirs, then this page's new objects.
 */
export function mergeAnnotations(theirs: Annotation[], mine: Annotation[], base: SyncedList): Annotation[] {
  const mineById = new Map<number, Annotation>();
  for (const a of mine) if (a.id !== undefined) mineById.set(a.id, a);
  const out: Annotation[] = [];
  for (const a of theirs) {
    if (a.id === undefined) continue;
    const own = mineById.get(a.id);
    if (own) out.push(base.has(a.id) && JSON.stringify(own) !== base.get(a.id) ? own : a);
    else if (!base.has(a.id)) out.push(a); // added by the other client
    // else: deleted on this page
  }
  for (const a of mine) if (a.id === undefined) out.push(a); // new on this page
  return out;
}
