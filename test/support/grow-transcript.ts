import { appendFile, readFile } from 'node:fs/promises';

/**
 * One more API call of a subagent, at `timestamp`: the file's last assistant line again, later and with
 * new ids (`suffix` keeps the ids of several appends apart).
 */
export async function appendAgentCall(path: string, timestamp: string, suffix: string): Promise<void> {
  const lines = (await readFile(path, 'utf8')).trim().split('\n');
  const last = JSON.parse(lines.filter((line) => line.includes('"assistant"')).pop()!) as {
    uuid: string;
    message: Record<string, unknown>;
  };
  const grown = {
    ...last,
    uuid: `${last.uuid}-${suffix}`,
    parentUuid: last.uuid,
    timestamp,
    requestId: `req_grown_${suffix}`,
    message: {
      ...last.message,
      id: `msg_grown_${suffix}`,
      content: [{ type: 'text', text: `one more finding (${suffix})` }],
    },
  };
  await appendFile(path, `${JSON.stringify(grown)}\n`);
}
