/**
 * Everything a benchmark run leaves behind (child processes, temp directories) is registered here so it
 * is removed on a normal end, on an error and on Ctrl+C alike.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

const children = new Set<ChildProcess>();
/** Children started as their own process group (GNU time + node): signals go to the whole group. */
const groupLeaders = new WeakSet<ChildProcess>();
const tempDirs = new Set<string>();
let keepTempDirs = false;

/** `ownGroup`: the child was spawned `detached`, so its pid is also its process group id. */
export function trackChild(child: ChildProcess, ownGroup = false): ChildProcess {
  children.add(child);
  if (ownGroup) groupLeaders.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function trackTempDir(dir: string): string {
  tempDirs.add(dir);
  return dir;
}

/** GNU time does not forward signals to the program it measures, so a wrapped run is signalled as a group. */
function signalChild(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (groupLeaders.has(child) && child.pid !== undefined) process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    // Already gone.
  }
}

export function keepTempDirsOnExit(keep: boolean): void {
  keepTempDirs = keep;
}

/** SIGTERM to every child still running (each by its own pid), then SIGKILL to any that ignores it. */
export async function stopChildren(graceMs = 2000): Promise<void> {
  const running = [...children].filter((child) => child.exitCode === null && child.signalCode === null);
  await Promise.all(
    running.map(
      (child) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            signalChild(child, 'SIGKILL');
            resolve();
          }, graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          signalChild(child, 'SIGTERM');
        }),
    ),
  );
}

export function removeTempDirs(): string[] {
  const dirs = [...tempDirs];
  tempDirs.clear();
  if (keepTempDirs) return dirs;
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  return [];
}

/**
 * Ctrl+C / SIGTERM: stop children, delete temp dirs, then re-raise the signal with the default handler
 * so the runner ends with the usual signal status.
 */
export function installSignalCleanup(onSignal: (signal: NodeJS.Signals) => void): void {
  const handler = (signal: NodeJS.Signals): void => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
    onSignal(signal);
    for (const child of children) signalChild(child, 'SIGKILL');
    removeTempDirs();
    process.kill(process.pid, signal);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
