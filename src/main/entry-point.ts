import { fileURLToPath } from 'node:url';

/**
 * Where the CLI's entry script is. A hook starts the CLI again (its detached sync), `hooks install`
 * writes the CLI's path, and the parse pool finds its worker beside it. A module's own URL stops telling
 * once the CLI is bundled (scripts/bundle-cli.mjs moves modules into shared chunks), so cli.ts records
 * its URL first thing; a module loaded without it (tests import commands directly) uses its own place.
 */
let entryUrl: string | undefined;

export function rememberEntryPoint(url: string): void {
  entryUrl = url;
}

/** Node flags for a script: tsx for the TypeScript sources (tests), none for built JavaScript. */
function execArgvFor(url: string): string[] {
  return url.endsWith('.ts') ? ['--import', 'tsx'] : [];
}

/** The CLI script to run again. `fallbackUrl`: the caller's guess from its own place. */
export function cliScript(fallbackUrl: string): { path: string; execArgv: string[] } {
  const url = entryUrl ?? fallbackUrl;
  return { path: fileURLToPath(url), execArgv: execArgvFor(url) };
}

/** The parse worker, one folder over from the CLI (dist/main → dist/workers, src/main → src/workers). */
export function parseWorkerScript(fallbackUrl: string): { filename: string; execArgv: string[] } {
  const url = entryUrl ? new URL(`../workers/parse-session-worker.${entryUrl.endsWith('.ts') ? 'ts' : 'js'}`, entryUrl).href : fallbackUrl;
  return { filename: url, execArgv: execArgvFor(url) };
}
