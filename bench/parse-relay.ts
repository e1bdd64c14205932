/**
 * The floor of any stdio gateway that renames tools: the least such a gateway must do to each
 * message, and nothing more. Every client line is parsed; a request gets an id of the relay's and,
 * for `tools/call`, the tool's name without PREFIX, and is serialized again. An answer in
 * `{…,"jsonrpc":"2.0","id":"r:N"}` layout gets the client's id spliced back in unparsed, unless it
 * lists tools; any other server line is parsed, `tools/list` names get PREFIX, and it is serialized
 * again. No
 * sessions, routes, metrics or checks: a measuring stick, not a gateway.
 * `node dist/bench/parse-relay.js PREFIX SERVER [ARGS...]`.
 */
import { spawn } from 'node:child_process';
import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';

const [prefix, command, ...args] = process.argv.slice(2);
if (!prefix || !command) {
  process.stderr.write('usage: parse-relay.js PREFIX SERVER [ARGS...]\n');
  process.exit(2);
}
const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });

type Id = string | number;
interface Message {
  id?: Id;
  method?: string;
  params?: { name?: unknown } & Record<string, unknown>;
  result?: { tools?: { name: string }[] } & Record<string, unknown>;
}

/** Lines written to `stream` in one tick leave in one write, as the gateway's do. */
function lineWriter(stream: Writable): (line: string) => void {
  let pending: string[] = [];
  const flush = () => {
    stream.write(pending.join(''));
    pending = [];
  };
  return (line) => {
    if (pending.push(`${line}\n`) === 1) process.nextTick(flush);
  };
}

/** Calls `onLine` with each complete line of `stream`. */
function readLines(stream: Readable, onLine: (line: string) => void): void {
  let rest = '';
  // A character split across two reads is decoded whole.
  const decoder = new StringDecoder('utf8');
  stream.on('data', (chunk: Buffer) => {
    const lines = (rest + decoder.write(chunk)).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line !== '') onLine(line);
  });
}

const toServer = lineWriter(child.stdin);
const toClient = lineWriter(process.stdout);
/** Each request in flight, by the relay's id: the client's id, and whether it lists tools. */
const inFlight = new Map<string, { clientId: Id; listsTools: boolean }>();
let seq = 0;
const ID_LAST = ',"jsonrpc":"2.0","id":"r:';

readLines(process.stdin, (line) => {
  const message = JSON.parse(line) as Message;
  if (message.id === undefined || message.method === undefined) {
    toServer(line);
    return;
  }
  const id = `r:${++seq}`;
  inFlight.set(id, { clientId: message.id, listsTools: message.method === 'tools/list' });
  let params = message.params;
  if (message.method === 'tools/call' && typeof params?.name === 'string' && params.name.startsWith(prefix)) {
    params = { ...params, name: params.name.slice(prefix.length) };
  }
  toServer(JSON.stringify({ jsonrpc: '2.0', id, method: message.method, params }));
});

readLines(child.stdout, (line) => {
  const at = line.lastIndexOf(ID_LAST);
  if (at > 0 && line.endsWith('"}')) {
    const id = line.slice(at + ID_LAST.length - 'r:'.length, -2);
    const request = inFlight.get(id);
    if (request && !request.listsTools) {
      inFlight.delete(id);
      toClient(`${line.slice(0, at)},"jsonrpc":"2.0","id":${JSON.stringify(request.clientId)}}`);
      return;
    }
  }
  const message = JSON.parse(line) as Message;
  const request = typeof message.id === 'string' ? inFlight.get(message.id) : undefined;
  if (request && typeof message.id === 'string') {
    inFlight.delete(message.id);
    message.id = request.clientId;
  }
  if (message.result?.tools) message.result.tools = message.result.tools.map((tool) => ({ ...tool, name: `${prefix}${tool.name}` }));
  toClient(JSON.stringify(message));
});

process.stdin.on('end', () => child.kill('SIGTERM'));
child.on('exit', (code) => process.exit(code ?? 0));
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
