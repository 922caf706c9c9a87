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
