/** A release in progress: what an interrupt (SIGINT/SIGTERM) stops and waits for. */
export interface ActiveRelease {
  abort(): void;
  done: Promise<void>;
}

/** The conventional exit code of a process ended by a signal: 128 + its number. */
export const signalExitCode = (signal: NodeJS.Signals): number => (signal === "SIGINT" ? 130 : 143);

/** Listens for SIGINT/SIGTERM only while releases run. */
export class ReleaseInterrupts {
  /** @param close what to close before the process exits (the runtime). */
  constructor(private readonly close: () => Promise<void>) {}

  private readonly active = new Set<ActiveRelease>();
  /** The signal that stopped the releases, once one came. */
  signalled: NodeJS.Signals | null = null;
  private readonly onSignal = (signal: NodeJS.Signals) => {
    void this.stopOnSignal(signal);
  };

  /**
   * SIGINT/SIGTERM while releases run: each is aborted and gives back its claim and dev lock (its
   * own release() does that and prints one line), then the process exits 130/143. A second signal
   * exits at once.
   */
  private async stopOnSignal(signal: NodeJS.Signals): Promise<void> {
    if (this.signalled) process.exit(signalExitCode(signal));
    this.signalled = signal;
    const runs = [...this.active];
    for (const run of runs) run.abort();
    await Promise.race([
      Promise.allSettled(runs.map((r) => r.done)),
      new Promise((r) => setTimeout(r, 15_000).unref()),
    ]);
    await this.close().catch(() => {});
    process.exit(signalExitCode(signal));
  }

  track(run: ActiveRelease): () => void {
    if (this.active.size === 0) {
      process.on("SIGINT", this.onSignal);
      process.on("SIGTERM", this.onSignal);
    }
    this.active.add(run);
    return () => {
      this.active.delete(run);
      if (this.active.size === 0) {
        process.off("SIGINT", this.onSignal);
        process.off("SIGTERM", this.onSignal);
      }
    };
  }
}
