/** Exit codes, documented in README.md. */
export const ExitCode = {
  /** Everything requested was done. */
  Ok: 0,
  /** The run finished, but some sessions failed or some lines could not be read (partial). */
  Partial: 1,
  /** Could not run: bad arguments or configuration, Opik unreachable or refusing (401/402/403), state unusable. */
  Fatal: 2,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
