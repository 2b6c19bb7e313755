/** Fault injection for the Opik test server: a FIFO of scripted faults plus seeded random ones. */

export interface FaultSpec {
  kind: 'status' | 'drop' | 'delay';
  /** For 'status', e.g. 429, 500, 502, 503, 401, 402, 403. */
  status?: number;
  /** Extra response headers for 'status', e.g. `{ 'RateLimit-Reset': '1' }`. */
  headers?: Record<string, string>;
  /** For 'delay': wait this long, then process the request normally. */
  delayMs?: number;
  /** How many matching requests it applies to (default 1). */
  times?: number;
  /** Which request paths it applies to (default: the batch write endpoints). */
  path?: RegExp;
}

export type RandomFaultKind = '429' | '500' | '503' | 'drop' | 'delay';

export interface RandomFaultOptions {
  /** Probability in [0, 1] that a batch write gets a fault. */
  rate: number;
  seed: number;
  kinds: RandomFaultKind[];
  /** Upper bound for random 'delay' faults (default 200 ms). */
  maxDelayMs?: number;
}

export type FaultDecision =
  | { kind: 'status'; status: number; headers: Record<string, string> }
  | { kind: 'drop' }
  | { kind: 'delay'; delayMs: number };

export const BATCH_WRITE_PATH = /\/v1\/private\/(?:traces|spans)\/batch$/;

/** mulberry32: tiny, fast, and the same sequence for the same seed on every run. */
export function createSeededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface QueuedFault {
  spec: FaultSpec;
  remaining: number;
}

interface RandomState {
  options: RandomFaultOptions;
  next: () => number;
}

export class FaultPlan {
  private queue: QueuedFault[] = [];
  private random: RandomState | undefined;

  inject(faults: readonly FaultSpec[]): void {
    for (const spec of faults) {
      const remaining = spec.times ?? 1;
      if (remaining > 0) this.queue.push({ spec, remaining });
    }
  }

  setRandom(options: RandomFaultOptions | null): void {
    this.random = options === null ? undefined : { options, next: createSeededRandom(options.seed) };
  }

  clear(): void {
    this.queue = [];
    this.random = undefined;
  }

  /** Consumes the fault (if any) for one request; scripted faults win over random ones. */
  next(path: string): FaultDecision | undefined {
    const index = this.queue.findIndex((entry) => (entry.spec.path ?? BATCH_WRITE_PATH).test(path));
    const queued = index >= 0 ? this.queue[index] : undefined;
    if (queued !== undefined) {
      queued.remaining -= 1;
      if (queued.remaining <= 0) this.queue.splice(index, 1);
      return decideScripted(queued.spec);
    }
    if (this.random !== undefined && BATCH_WRITE_PATH.test(path)) return decideRandom(this.random);
    return undefined;
  }
}

function decideScripted(spec: FaultSpec): FaultDecision {
  if (spec.kind === 'drop') return { kind: 'drop' };
  if (spec.kind === 'delay') return { kind: 'delay', delayMs: spec.delayMs ?? 100 };
  return { kind: 'status', status: spec.status ?? 500, headers: spec.headers ?? {} };
}

function decideRandom({ options, next }: RandomState): FaultDecision | undefined {
  // Always draw the same number of values per request so the sequence depends only on the seed.
  const roll = next();
  const pick = next();
  const size = next();
  if (roll >= options.rate || options.kinds.length === 0) return undefined;
  const kind = options.kinds[Math.floor(pick * options.kinds.length)] ?? options.kinds[0];
  switch (kind) {
    case '429':
      return { kind: 'status', status: 429, headers: { 'RateLimit-Reset': '1' } };
    case '500':
      return { kind: 'status', status: 500, headers: {} };
    case '503':
      return { kind: 'status', status: 503, headers: {} };
    case 'drop':
      return { kind: 'drop' };
    default:
      return { kind: 'delay', delayMs: Math.floor(size * (options.maxDelayMs ?? 200)) };
  }
}

/** The body a real Opik (Dropwizard) answers with for a status fault. */
export function describeFaultStatus(status: number): { code: number; message: string } {
  if (status === 429) return { code: 429, message: 'Too Many Requests: test' };
  if (status === 402) return { code: 402, message: 'Usage quota exceeded for this workspace (test fault)' };
  if (status === 401) return { code: 401, message: 'User not allowed to access workspace' };
  // (sic) the real backend's wording.
  if (status === 403) return { code: 403, message: 'User has bot permission to the workspace' };
  if (status === 413) return { code: 413, message: 'Request Entity Too Large' };
  return { code: status, message: status >= 500 ? 'Server error (test fault)' : 'Client error (test fault)' };
}
