import { describe, expect, it } from 'vitest';
import { anchorFor, idTimeFor } from '../src/pipeline/map/id-times.js';
import { createStableUuidV7 } from '../src/pipeline/map/stable-uuid-v7.js';
import { syncMetadataFor, SYNC_METADATA_KEY } from '../src/pipeline/map/sync-metadata.js';
import { adoptExportedRows, inferAnchor } from '../src/pipeline/state/adopt-exported-rows.js';

/** Rebuilding identities from trace rows: what the trace carries, or what its own id gives back. */

const SESSION = '0d3a8e6f-290f-4105-a327-a2496e5e2a83';
const EXPORT_MS = Date.parse('2026-11-25T12:00:00.000Z');

function traceIdFor(key: string, eventIso: string, anchorMs: number): string {
  const time = idTimeFor(Date.parse(eventIso), anchorMs);
  return createStableUuidV7(time.ms, `${SESSION}:trace:${key}`, time.fraction);
}

describe('inferAnchor', () => {
  const anchor = anchorFor(EXPORT_MS) + 123;

  it('finds the exact anchor of a squeezed id (an event older than its anchor)', () => {
    for (const event of ['2026-10-01T08:30:00.250Z', '2025-01-01T00:00:00.000Z', '2026-11-24T15:59:59.999Z']) {
      const id = traceIdFor('prompt-1', event, anchor);
      expect(inferAnchor(SESSION, 'prompt-1', id, event)).toBe(anchor);
    }
  });

  it('gives an anchor an hour before the event for an id that carries its own time (at or after its anchor)', () => {
    const event = '2026-11-25T11:00:00.000Z';
    const id = traceIdFor('prompt-2', event, anchor);
    const inferred = inferAnchor(SESSION, 'prompt-2', id, event)!;
    expect(inferred).toBe(Date.parse(event) - 3_600_000);
    // Every span from an hour before the prompt on gets the id it got with the real anchor.
    for (const span of ['2026-11-25T10:00:00.000Z', '2026-11-25T10:59:58.000Z', '2026-11-25T11:30:00.000Z'])
      expect(idTimeFor(Date.parse(span), inferred)).toEqual(idTimeFor(Date.parse(span), anchor));
  });

  it('finds no anchor for ids of the first versions, nor for ids of another key', () => {
    const legacy = createStableUuidV7(EXPORT_MS, `${SESSION}:trace:prompt-3`);
    expect(inferAnchor(SESSION, 'prompt-3', legacy, '2026-10-01T08:30:00.000Z')).toBeUndefined();
    const other = traceIdFor('prompt-4', '2026-10-01T08:30:00.000Z', anchor);
    expect(inferAnchor(SESSION, 'prompt-5', other, '2026-10-01T08:30:00.000Z')).toBeUndefined();
  });
});

describe('adoptExportedRows', () => {
  it('reads identity and state from the trace metadata', () => {
    const identity = {
      traceId: traceIdFor('k1', '2026-10-01T00:00:00.000Z', 5_000),
      epochMs: 0,
      anchorMs: 1_700_000_000_000,
      reanchors: [{ fromMs: 1_700_100_000_000, anchorMs: 1_700_200_000_000 }],
      sentUntilMs: 1_700_150_000_000,
    };
    const traceId = identity.traceId;
    const adopted = adoptExportedRows(
      SESSION,
      [
        {
          id: traceId,
          start_time: '2026-10-01T00:00:00.000Z',
          metadata: { conversation_key: 'k1', span_count: 7, [SYNC_METADATA_KEY]: syncMetadataFor(identity, 'fp1') },
        },
      ],
      99,
    );
    const { epochMs: _ignored, ...rest } = identity;
    expect(adopted.identities.k1).toEqual({ ...rest, epochMs: parseInt(traceId.replace(/-/g, '').slice(0, 12), 16) });
    expect(adopted.conversations.k1).toEqual({
      traceId,
      epochMs: adopted.identities.k1!.epochMs,
      fingerprint: 'fp1',
      startOffset: -1,
      spanCount: 7,
      syncedAt: 99,
      adopted: true,
    });
    expect(adopted.duplicates).toBe(0);
  });

  it('infers the anchor of rows without metadata, keeps the oldest of duplicates, skips foreign rows', () => {
    const anchor = anchorFor(EXPORT_MS);
    const first = traceIdFor('k2', '2026-09-01T00:00:00.000Z', anchor);
    const second = traceIdFor('k2', '2026-09-01T00:00:00.000Z', anchor + 86_400_000);
    const adopted = adoptExportedRows(
      SESSION,
      [
        { id: second, start_time: '2026-09-01T00:00:00.000Z', metadata: { conversation_key: 'k2' } },
        { id: first, start_time: '2026-09-01T00:00:00.000Z', metadata: { conversation_key: 'k2' } },
        { id: 'not-a-uuid', metadata: { conversation_key: 'k3' } },
        { id: createStableUuidV7(EXPORT_MS, 'someone else'), metadata: { other: true } },
      ],
      1,
    );
    expect(Object.keys(adopted.identities)).toEqual(['k2']);
    expect(adopted.identities.k2).toMatchObject({ traceId: first, anchorMs: anchor });
    // No fingerprint there: the conversation will be re-sent, with these ids.
    expect(adopted.conversations.k2?.fingerprint).toBe('');
    expect(adopted.duplicates).toBe(1);
  });
});
