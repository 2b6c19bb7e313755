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

/** Built JavaScript, or the TypeScript sources under tsx (tests). */
function extensionOf(url: string): 'ts' | 'js' {
  return url.endsWith('.ts') ? 'ts' : 'js';
}

/** Node flags for a script: tsx for the TypeScript sources, none for built JavaScript. */
function execArgvFor(url: string): string[] {
  return extensionOf(url) === 'ts' ? ['--import', 'tsx'] : [];
}

/** The CLI script to run again. `commandUrl`: the caller's own URL, a module in main/commands (the fallback). */
export function cliScript(commandUrl: string): { path: string; execArgv: string[] } {
  const url = entryUrl ?? new URL(`../cli.${extensionOf(commandUrl)}`, commandUrl).href;
  return { path: fileURLToPath(url), execArgv: execArgvFor(url) };
}

/**
 * The parse worker, one folder over from the CLI (dist/main → dist/workers, src/main → src/workers).
 * `mainUrl`: the caller's own URL, a module in main/ beside the CLI (the fallback).
 */
export function parseWorkerScript(mainUrl: string): { filename: string; execArgv: string[] } {
  const anchor = entryUrl ?? mainUrl;
  const url = new URL(`../workers/parse-session-worker.${extensionOf(anchor)}`, anchor).href;
  return { filename: url, execArgv: execArgvFor(url) };
}
