import { describePrompt, isHumanPrompt } from './classify-user-entry.js';
import { findCompleteEnd, readJsonlRange } from './read-jsonl-range.js';
import type { SessionSummaryMeta } from './session-model.js';
import { asEntry, userText } from './transcript-entry.js';

/**
 * Title, first prompt and message count of a session never synced (list-sessions). Synced sessions use
 * what state cached at sync time instead, so unchanged files are never read again.
 */
export async function summarizeSession(path: string, size: number): Promise<SessionSummaryMeta> {
  const meta: SessionSummaryMeta = { messageCount: 0 };
  const end = await findCompleteEnd(path, 0, size).catch(() => 0);
  let aiTitle: string | undefined;
  for await (const line of readJsonlRange(path, 0, end, 1)) {
    const entry = asEntry(line.value);
    if (!entry) continue;
    if (entry.type === 'user' || entry.type === 'assistant') meta.messageCount += 1;
    if (entry.type === 'custom-title' && typeof entry.customTitle === 'string') meta.title = entry.customTitle;
    if (entry.type === 'ai-title' && typeof entry.aiTitle === 'string') aiTitle = entry.aiTitle;
    if (entry.cwd) meta.cwd = entry.cwd;
    if (typeof entry.timestamp === 'string' && (!meta.lastTimestamp || entry.timestamp > meta.lastTimestamp)) meta.lastTimestamp = entry.timestamp;
    if (!meta.firstPrompt && isHumanPrompt(entry)) meta.firstPrompt = describePrompt(userText(entry), 200);
  }
  meta.title ??= aiTitle;
  return meta;
}
