/** Typed errors with stable codes. Expected failures travel as data (`Failure`), not as throws. */

export type ErrorCode =
  | 'OCS_ERR_CONFIG'
  | 'OCS_ERR_CONFIG_FILE'
  | 'OCS_ERR_BAD_ARGUMENT'
  | 'OCS_ERR_UNREACHABLE'
  | 'OCS_ERR_AUTH'
  | 'OCS_ERR_FORBIDDEN'
  | 'OCS_ERR_WORKSPACE'
  | 'OCS_ERR_QUOTA'
  | 'OCS_ERR_REJECTED'
  | 'OCS_ERR_RETRIES_EXHAUSTED'
  | 'OCS_ERR_ABORTED'
  | 'OCS_ERR_READ'
  | 'OCS_ERR_STATE'
  | 'OCS_ERR_SESSION_NOT_FOUND'
  | 'OCS_ERR_HOOK_INPUT';

export interface Failure {
  code: ErrorCode;
  message: string;
}

export class SyncError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SyncError';
    this.code = code;
  }
}

export function toFailure(error: unknown, fallback: ErrorCode): Failure {
  if (error instanceof SyncError) return { code: error.code, message: error.message };
  return { code: fallback, message: error instanceof Error ? error.message : String(error) };
}
