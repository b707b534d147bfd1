/**
 * The sidecar's settings as a pure reducer: `settings.updated` carries the whole new
 * value, so the newest event simply wins. Holds what replaced the app's preferences
 * store (`lastModelId`, `defaultModelId`, `preferences`) and the per-provider routes.
 */
import type { SidecarEvent, Settings } from "../generated/protocol.js";

export interface SettingsState {
  /** The last event reflected. */
  seq: number;
  /** Null until loaded. */
  settings: Settings | null;
}

export function emptySettings(): SettingsState {
  return { seq: -1, settings: null };
}

/** `settings.get` has no `seq`: pass the seq of the last event received before its answer. */
export function settingsFromSnapshot(settings: Settings, seq: number): SettingsState {
  return { seq, settings };
}

export function reduceSettings(state: SettingsState, event: SidecarEvent): SettingsState {
  if (event.seq <= state.seq || event.type !== "settings.updated") return state;
  return { seq: event.seq, settings: event.settings };
}
