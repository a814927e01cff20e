import { TusError } from "../../errors";

/**
 * One request at a time per upload, with take-over.
 *
 * A Durable Object does not serialise requests while they await a body read,
 * R2 or fetch, so this lock is what keeps two PATCHes from interleaving. A
 * client whose connection died silently comes back with a HEAD or PATCH while
 * its dead PATCH still holds the upload; it must not wait for a body that will
 * never arrive. So every newcomer asks the holder (and anyone queued ahead of
 * it) to stop: a writer that is asked stops reading, makes durable what it
 * received, and lets go. The newcomer then sees the true offset.
 */
export class LockHolder {
  #stopped = false;
  #onStop: ((reason: Error) => void) | undefined;

  /** True once a newer request asked this one to let go. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Registers how to interrupt this holder's work (e.g. cancel its body reader). */
  onStop(callback: (reason: Error) => void): void {
    this.#onStop = callback;
    if (this.#stopped) callback(takenOver());
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#onStop?.(takenOver());
  }
}

export class TakeOverError extends Error {
  constructor() {
    super("a newer request for this upload took over");
    this.name = "TakeOverError";
  }
}

function takenOver(): Error {
  return new TakeOverError();
}

interface Waiter {
  holder: LockHolder;
  grant: () => void;
}

export class WriteLock {
  #holder: LockHolder | undefined;
  #waiters: Waiter[] = [];

  constructor(private readonly timeoutMs: number) {}

  /** Runs `work` alone on the upload, after asking every earlier request to let go. */
  async run<T>(work: (holder: LockHolder) => Promise<T>): Promise<T> {
    const holder = await this.acquire();
    try {
      return await work(holder);
    } finally {
      this.release(holder);
    }
  }

  private acquire(): Promise<LockHolder> {
    this.#holder?.stop();
    for (const waiter of this.#waiters) waiter.holder.stop();
    const holder = new LockHolder();
    if (!this.#holder) {
      this.#holder = holder;
      return Promise.resolve(holder);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        holder,
        grant: () => {
          clearTimeout(timer);
          resolve(holder);
        },
      };
      // The holder may be inside an R2 call that cannot be interrupted; a
      // client must not wait on it for long. 423 is retried by tus clients.
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new TusError("upload-locked", undefined, { retryAfterSeconds: 1 }));
      }, this.timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  private release(holder: LockHolder): void {
    if (this.#holder !== holder) return;
    const next = this.#waiters.shift();
    this.#holder = next?.holder;
    next?.grant();
  }
}
