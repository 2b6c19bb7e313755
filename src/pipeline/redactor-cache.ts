import type { MappingOptions } from './session-model.js';

/** Placeholder until redaction lands: identity. */
export interface Redactor {
  redactText(text: string): string;
  redactJson<T>(value: T): T;
}

const identity: Redactor = { redactText: (t) => t, redactJson: (v) => v };

export function getRedactor(_options: MappingOptions): Redactor {
  return identity;
}
