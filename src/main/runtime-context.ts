import { readFileSync, statSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { claudeRootCandidates, existingClaudeRoots } from '../pipeline/discover-sessions.js';
import type { Failure } from '../pipeline/errors.js';
import { isConfigFailure, resolveOpikConfig, type ResolvedConfig } from '../pipeline/resolve-config.js';
import type { MappingOptions } from '../pipeline/session-model.js';
import { defaultStateDir } from '../pipeline/state-paths.js';

/** Options every command accepts (commander turns them into this shape). */
export interface GlobalFlags {
  claudeDir?: string;
  stateDir?: string;
  url?: string;
  apiKey?: string;
  workspace?: string;
  projectName?: string;
  config?: string;
}

/** The one place that reads the environment: everything below src/main takes plain values. */
export function readEnvironment(): { env: Record<string, string | undefined>; homeDir: string } {
  return { env: process.env, homeDir: process.env.HOME || homedir() };
}

export function resolveConfig(flags: GlobalFlags): ResolvedConfig | Failure {
  const { env, homeDir } = readEnvironment();
  return resolveOpikConfig({
    env,
    homeDir,
    flags: { url: flags.url, apiKey: flags.apiKey, workspace: flags.workspace, projectName: flags.projectName, configPath: flags.config },
    readFile: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    statFile: (path) => {
      try {
        return statSync(path);
      } catch {
        return undefined;
      }
    },
  });
}

export { isConfigFailure };

export function resolveStateDir(flags: GlobalFlags): string {
  const { env, homeDir } = readEnvironment();
  return flags.stateDir || env.OPIK_CHAT_SYNC_STATE_DIR || defaultStateDir(homeDir);
}

export function claudeRootList(flags: GlobalFlags): string[] {
  const { env, homeDir } = readEnvironment();
  if (flags.claudeDir) return flags.claudeDir.split(',').map((p) => p.trim()).filter(Boolean);
  return claudeRootCandidates({ CLAUDE_CONFIG_DIR: env.CLAUDE_CONFIG_DIR }, homeDir);
}

export async function resolveClaudeRoots(flags: GlobalFlags): Promise<string[]> {
  return existingClaudeRoots(claudeRootList(flags));
}

export function hookLogPath(stateDir: string): string {
  return join(stateDir, 'hook.log');
}

export function mappingOptionsFor(config: ResolvedConfig, redact: boolean, extraRedactPatterns: string[]): () => MappingOptions {
  const { env } = readEnvironment();
  let user = env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry in some containers
  }
  const host = hostname();
  // Evaluated per chunk: ids of conversations first seen in a long run embed the time they were exported.
  return () => ({ projectName: config.projectName, host, user, nowMs: Date.now(), redact, extraRedactPatterns, maxFieldChars: 1_000_000 });
}
