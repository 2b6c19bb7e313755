import { hash } from 'node:crypto';
import { basename } from 'node:path';
import { describePrompt } from './classify-user-entry.js';
import { clipText } from './clip-text.js';
import type { SpanCollector, SpanDraft } from './collect-spans.js';
import { mapUsage } from './map-usage.js';
import type { JsonObject, OpikSpan, OpikTrace } from './opik-records.js';
import type { AgentLink, ConversationIdentity, MappedConversation, ParseTask } from './session-model.js';
import { createStableUuidV7 } from './stable-uuid-v7.js';
import type { TurnState } from './parse-session.js';
import { contentBlocks, TASK_TOOLS } from './transcript-entry.js';
import { getRedactor } from './redactor-cache.js';

/** A subagent transcript (or an in-file sidechain) whose spans hang under `parentKey`. */
export interface AttachedScope {
  agentId: string;
  collector: SpanCollector;
  parentKey: string;
  agentType?: string | undefined;
  description?: string | undefined;
  /** Unlinked agents get a grouping span of their own (key = parentKey). */
  wrapper?: boolean;
}

export function identityFor(task: ParseTask, key: string): ConversationIdentity {
  return (
    task.knownConversations[key] ?? {
      traceId: createStableUuidV7(task.options.nowMs, `${task.session.sessionId}:trace:${key}`),
      epochMs: task.options.nowMs,
    }
  );
}

export function spanIdFor(sessionId: string, epochMs: number, spanKey: string): string {
  return createStableUuidV7(epochMs, `${sessionId}:span:${spanKey}`);
}

function maxTime(...values: Array<string | undefined>): string | undefined {
  return values.reduce<string | undefined>((acc, value) => (value && (!acc || value > acc) ? value : acc), undefined);
}

function draftToSpan(task: ParseTask, traceId: string, epochMs: number, draft: SpanDraft, parentKey: string | undefined): OpikSpan {
  const sessionId = task.session.sessionId;
  const redactor = getRedactor(task.options);
  const span: OpikSpan = {
    id: spanIdFor(sessionId, epochMs, draft.key),
    project_name: task.options.projectName,
    trace_id: traceId,
    name: draft.name,
    type: draft.type,
    start_time: draft.startTime,
    end_time: draft.endTime < draft.startTime ? draft.startTime : draft.endTime,
    metadata: draft.metadata,
  };
  if (parentKey !== undefined) span.parent_span_id = spanIdFor(sessionId, epochMs, parentKey);
  const payloads = task.options.payloads !== false;
  if (payloads && draft.input) span.input = redactor.redactJson(draft.input);
  const output = draft.type === 'llm' ? { content: draft.blocks } : draft.output;
  if (payloads && output) span.output = redactor.redactJson(output);
  if (draft.type === 'llm') {
    span.provider = 'anthropic';
    if (draft.model) span.model = draft.model;
    if (draft.usage) span.usage = mapUsage(draft.usage);
  }
  if (payloads && draft.errorInfo) span.error_info = redactor.redactJson(draft.errorInfo);
  return span;
}

function collectorSpans(task: ParseTask, traceId: string, epochMs: number, collector: SpanCollector, scopeParent: string | undefined): OpikSpan[] {
  return [...collector.drafts.values()].map((draft) => draftToSpan(task, traceId, epochMs, draft, draft.parentKey ?? scopeParent));
}

/** In-file (1.0.x) sidechains: the subagent's first prompt repeats the Task tool's `prompt` input. */
function findSidechainParent(turn: TurnState, firstText: string | undefined, firstTimestamp: string | undefined): string | undefined {
  const tasks = [...turn.collector.drafts.values()].filter((d) => d.type === 'tool' && TASK_TOOLS.has(d.name));
  const byPrompt = tasks.find((d) => typeof d.input?.prompt === 'string' && d.input.prompt.trim() === firstText);
  if (byPrompt) return byPrompt.key;
  const earlier = tasks.filter((d) => !firstTimestamp || d.startTime <= firstTimestamp);
  return earlier[earlier.length - 1]?.key;
}

function wrapperSpan(task: ParseTask, traceId: string, epochMs: number, scope: AttachedScope, parentKey: string | undefined): OpikSpan {
  const start = scope.collector.firstTimestamp ?? new Date(task.options.nowMs).toISOString();
  const span: OpikSpan = {
    id: spanIdFor(task.session.sessionId, epochMs, scope.parentKey),
    project_name: task.options.projectName,
    trace_id: traceId,
    name: `subagent ${scope.agentType ?? scope.agentId}`,
    type: 'general',
    start_time: start,
    end_time: maxTime(scope.collector.lastTimestamp, start) ?? start,
    metadata: { agent_id: scope.agentId, ...(scope.agentType ? { agent_type: scope.agentType } : {}) },
  };
  if (parentKey) span.parent_span_id = spanIdFor(task.session.sessionId, epochMs, parentKey);
  return span;
}

/** Spans of a subagent whose spawning turn was exported earlier: ids and parent come from the stored link. */
export function mapAgentSpans(task: ParseTask, link: AgentLink, collector: SpanCollector): OpikSpan[] {
  return [...collector.drafts.values()].map((draft) => {
    const span = draftToSpan(task, link.traceId, link.epochMs, draft, undefined);
    if (draft.parentKey === '__known__' || draft.parentKey === undefined) span.parent_span_id = link.parentSpanId;
    else span.parent_span_id = spanIdFor(task.session.sessionId, link.epochMs, draft.parentKey);
    return span;
  });
}

export interface MappedTurn {
  turn: TurnState;
  conversation: MappedConversation;
  agentLinks: Record<string, AgentLink>;
}

/** One turn → one Opik trace (thread = session) and its spans. */
export function mapConversation(task: ParseTask, turn: TurnState): MappedTurn {
  const { session, options } = task;
  const identity = identityFor(task, turn.key);
  const { traceId, epochMs } = identity;
  const redactor = getRedactor(options);
  const spans: OpikSpan[] = collectorSpans(task, traceId, epochMs, turn.collector, undefined);
  const agentLinks: Record<string, AgentLink> = {};
  let lastTimestamp = turn.collector.lastTimestamp;

  for (const [groupId, group] of turn.sidechains) {
    if (group.firstText === 'Warmup') continue;
    const parentKey = findSidechainParent(turn, group.firstText, group.firstTimestamp);
    const scope: AttachedScope = { agentId: `sidechain-${groupId}`, collector: group.collector, parentKey: parentKey ?? `sidechain:${groupId}`, wrapper: !parentKey };
    if (scope.wrapper) spans.push(wrapperSpan(task, traceId, epochMs, scope, undefined));
    spans.push(...collectorSpans(task, traceId, epochMs, group.collector, scope.parentKey));
    lastTimestamp = maxTime(lastTimestamp, group.collector.lastTimestamp);
  }
  for (const scope of turn.attached) {
    if (scope.wrapper) {
      const compaction = scope.agentId.startsWith('acompact')
        ? [...turn.collector.drafts.values()].filter((d) => d.name === 'compaction').pop()?.key
        : undefined;
      spans.push(wrapperSpan(task, traceId, epochMs, scope, compaction));
    }
    const parentTool = turn.collector.drafts.get(scope.parentKey);
    if (parentTool) {
      parentTool.metadata.agent_id = scope.agentId;
      if (scope.agentType) parentTool.metadata.agent_type = scope.agentType;
    }
    spans.push(...collectorSpans(task, traceId, epochMs, scope.collector, scope.parentKey));
    agentLinks[scope.agentId] = { traceId, epochMs, conversationKey: turn.key, parentSpanId: spanIdFor(session.sessionId, epochMs, scope.parentKey) };
    lastTimestamp = maxTime(lastTimestamp, scope.collector.lastTimestamp);
  }

  const prompt = turn.prompt;
  const startTime =
    (typeof prompt?.timestamp === 'string' ? prompt.timestamp : undefined) ??
    turn.collector.firstTimestamp ??
    turn.attached[0]?.collector.firstTimestamp ??
    new Date(options.nowMs).toISOString();
  const endTime = maxTime(lastTimestamp, startTime) ?? startTime;
  const images = prompt ? contentBlocks(prompt).filter((b) => b.type === 'image' || b.type === 'document').length : 0;
  const name = prompt
    ? describePrompt(turn.promptText)
    : turn.attached[0] && turn.key.startsWith('agent:')
      ? `subagent ${turn.attached[0].agentType ?? turn.attached[0].agentId}`
      : '(continued conversation)';
  const cwd = turn.context.cwd;
  const tags = ['claude-code'];
  if (cwd) tags.push(`project:${basename(cwd)}`);
  if (turn.collector.interrupted) tags.push('interrupted');
  if (turn.collector.lastError) tags.push('error');
  const metadata: JsonObject = {
    session_id: session.sessionId,
    conversation_key: turn.key,
    transcript_path: session.path,
    host: options.host,
    user: options.user,
    models: [...turn.collector.models],
    span_count: spans.length,
  };
  if (cwd) metadata.cwd = cwd;
  if (turn.context.gitBranch) metadata.git_branch = turn.context.gitBranch;
  if (turn.context.version) metadata.claude_code_version = turn.context.version;
  if (turn.context.entrypoint) metadata.entrypoint = turn.context.entrypoint;
  if (turn.context.promptId) metadata.prompt_id = turn.context.promptId;
  if (turn.collector.interrupted) metadata.interrupted = true;

  const trace: OpikTrace = {
    id: traceId,
    project_name: options.projectName,
    name: redactor.redactText(name),
    start_time: startTime,
    end_time: endTime,
    metadata,
    tags,
    thread_id: session.sessionId,
  };
  if (options.payloads !== false) {
    trace.input = redactor.redactJson({ text: clipText(turn.promptText, options.maxFieldChars), ...(images ? { images } : {}) });
    trace.output = redactor.redactJson({ text: clipText(turn.collector.lastAssistantText ?? '', options.maxFieldChars) });
    if (turn.collector.lastError) trace.error_info = redactor.redactJson(turn.collector.lastError);
  }

  return {
    turn,
    agentLinks,
    conversation: {
      key: turn.key,
      identity,
      // One hash per conversation, not a sha1 object and an update per line: ~150 ms of a 500 MB dry run.
      fingerprint: hash('sha1', turn.fingerprintInput, 'hex'),
      startOffset: turn.startOffset,
      startLine: turn.startLine,
      trace,
      spans,
      isOpen: false,
    },
  };
}
