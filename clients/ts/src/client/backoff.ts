/**
 * Reconnect delays: exponential growth with a cap and random jitter, so that many clients
 * (or one client and a restarting sidecar) do not retry in lockstep.
 */
export interface BackoffOptions {
  /** The first delay (default 100 ms). */
  initialDelayMs?: number;
  /** The cap (default 5 s): a restarted sidecar is found within this long. */
  maxDelayMs?: number;
  /** Growth per failed attempt (default 2). */
  factor?: number;
  /** 0..1: each delay is drawn uniformly from [delay * (1 - jitter), delay] (default 0.5). */
  jitter?: number;
}

export class Backoff {
  private attempt = 0;
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;
  private readonly jitter: number;

  constructor(options: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.initial = Math.max(0, options.initialDelayMs ?? 100);
    this.max = Math.max(this.initial, options.maxDelayMs ?? 5_000);
    this.factor = Math.max(1, options.factor ?? 2);
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = Math.min(this.max, this.initial * this.factor ** this.attempt);
    this.attempt += 1;
    return Math.round(base * (1 - this.jitter * this.random()));
  }

  /** After a success the next failure starts from the initial delay again. */
  reset(): void {
    this.attempt = 0;
  }
}
