/**
 * Event order. The sidecar numbers events 1, 2, 3, ... process-wide, so the client can
 * deliver each one exactly once and in order: a seq at or below the last one is a
 * duplicate (a replay overlapping what was already seen), a seq beyond the next one is a gap
 * (a lost frame). While a subscribe without `since` is in flight, events are held until its
 * answer says where the feed starts.
 */
export type Verdict =
  /** The next event: deliver it (`lastSeq` moved on). */
  | "deliver"
  /** Already delivered, or beyond a gap that is already being recovered: drop it. */
  | "drop"
  /** The first event past a gap: drop it and ask for a replay from `lastSeq`. */
  | "gap"
  /** Kept until `startAt`. */
  | "held";

export interface Sequenced {
  seq: number;
}

export class EventSequencer<E extends Sequenced> {
  /** The seq of the last event delivered (or the feed's starting point); -1 before any. */
  lastSeq = -1;
  private held: E[] | null = null;
  private recovering = false;

  judge(event: E): Verdict {
    if (this.held !== null) {
      this.held.push(event);
      return "held";
    }
    if (event.seq <= this.lastSeq) return "drop";
    if (event.seq === this.lastSeq + 1 || this.lastSeq < 0) {
      this.lastSeq = event.seq;
      return "deliver";
    }
    if (this.recovering) return "drop";
    this.recovering = true;
    return "gap";
  }

  /** The replay asked for after a gap was answered (or failed): the next gap is news again. */
  recovered(): void {
    this.recovering = false;
  }

  /** Holds events until `startAt` (a subscribe without `since` is in flight). */
  hold(): void {
    this.held ??= [];
  }

  /**
   * The feed continues after `base` (the subscribe's `lastSeq`): returns the held events,
   * to be judged again in arrival order.
   */
  startAt(base: number): E[] {
    const held = this.held ?? [];
    this.held = null;
    this.recovering = false;
    this.lastSeq = base;
    return held;
  }

  /** The subscribe failed: what was held belonged to a dead socket. */
  discardHeld(): void {
    this.held = null;
  }
}
