import type { ConfigIssue } from './types.js';

const ENTRY = /^(server\[\d+\])(?:\.(.*))?$/;

/**
 * One issue as a line a person reads, compiler style, with the file exactly as the issue holds it:
 * `mcp_config.toml:12:13: server[1] "tavily": transport: unknown transport "htp"; use "http" or "stdio"`.
 * Global issues read `FILE:LINE:COL: orchestrator.listen: …`; syntax errors `FILE:LINE:COL: …`.
 */
export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}:`;
  const entry = ENTRY.exec(issue.path);
  if (entry !== null) {
    const server = issue.server !== undefined ? `${entry[1] ?? ''} ${JSON.stringify(issue.server)}` : (entry[1] ?? '');
    const field = entry[2] !== undefined ? ` ${entry[2]}:` : '';
    return `${where} ${server}:${field} ${issue.message}`;
  }
  return issue.path === '' ? `${where} ${issue.message}` : `${where} ${issue.path}: ${issue.message}`;
}

/** Every issue, one per line, in the order given (loaders sort them by position). */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map(formatIssue).join('\n');
}
