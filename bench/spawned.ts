import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ProcessTree } from '../src/runtime/processtree.js';
import { killTrees } from './procs.js';

/** The last lines a process wrote, kept so a failure can say what the target printed. */
export class RingBuffer {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly capacity = 40) {}

  /** Reads `stream` to its end (a pipe nobody reads would eventually block the writer). */
  drain(stream: Readable | null | undefined): void {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => this.push(chunk));
  }

  push(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line.trim() === '') continue;
      this.lines.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
      if (this.lines.length > this.capacity) this.lines.shift();
    }
  }

  tail(count = 12): string {
    return [...this.lines.slice(-count), this.partial].filter((l) => l.trim() !== '').join('\n');
  }
}

/**
 * Every process tree the bench starts. Each root leads its own process group (spawned
 * detached, or exec'd through `setsid`), so ending it never signals the bench itself.
 */
export class ProcessRegistry {
  private readonly trees = new Map<number, ProcessTree>();

  add(pid: number | null | undefined): void {
    if (pid && !this.trees.has(pid)) this.trees.set(pid, new ProcessTree(pid));
  }

  /** Notes every process now in the trees, so it is ended even if its parent dies first. */
  remember(): void {
    for (const tree of this.trees.values()) tree.sweep();
  }

  async killAll(): Promise<void> {
    await killTrees([...this.trees.values()]);
  }

  /** Synchronous last resort for process 'exit'. */
  killAllNow(): void {
    for (const tree of this.trees.values()) tree.sweep('SIGKILL');
  }
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  output: RingBuffer;
  /** Rejects when the process exits or cannot be spawned; never resolves. */
  died: Promise<never>;
}

/** Starts `command` in a process group of its own, output captured, registered for cleanup. */
export function spawnGroup(
  registry: ProcessRegistry,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { detached: true, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = new RingBuffer();
    output.drain(child.stdout);
    output.drain(child.stderr);
    const died = new Promise<never>((_, rejectDied) => {
      child.once('error', (error) => rejectDied(new Error(`cannot start ${command}: ${error.message}`)));
      child.once('exit', (code, signal) =>
        rejectDied(new Error(`exited (${signal ?? `code ${code}`}) during start-up; last output:\n${output.tail()}`)),
      );
    });
    died.catch(() => {});
    child.once('spawn', () => {
      registry.add(child.pid);
      resolve({ child, pid: child.pid as number, output, died });
    });
    child.once('error', reject);
  });
}
