import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Temporary folders that are removed together: create with `make`, remove with `cleanup` from an
 * afterEach/afterAll, which runs whether the test passed or not.
 */
export class TempDirs {
  private readonly dirs: string[] = [];

  make(prefix = 'mcp-orch-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  cleanup(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
