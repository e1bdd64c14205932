import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/config/duration.js';
import { formatListen, parseListen, scanListen, scanOrchestratorValue } from '../../src/config/listen.js';

describe('formatDuration', () => {
  it.each([
    [0, '0'],
    [500, '500ms'],
    [10_000, '10s'],
    [60_000, '1m'],
    [90_000, '1m30s'],
    [1_500, '1s500ms'],
    [86_400_000, '24h'],
    [3_723_004, '1h2m3s4ms'],
  ])('%d ms is written "%s", which reads back as the same', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toEqual({ ok: true, ms });
  });
});

describe('formatListen', () => {
  it.each([
    [{ host: '127.0.0.1', port: 8080 }, '127.0.0.1:8080'],
    [{ host: '::1', port: 8080 }, '[::1]:8080'],
    [{ host: 'localhost', port: 0 }, 'localhost:0'],
  ])('%j is written %s, which reads back as the same', (listen, text) => {
    expect(formatListen(listen)).toBe(text);
    expect(parseListen(text)).toEqual({ ok: true, listen });
  });
});

describe('scanListen', () => {
  it.each([
    ['[orchestrator]\nlisten = "127.0.0.1:18755"\n[[server]]\nname = "x\n', { host: '127.0.0.1', port: 18755 }],
    ['# c\n[orchestrator]  # the orchestrator\n  listen="[::1]:9"  # here\n', { host: '::1', port: 9 }],
    ['[gateway]\nlisten = "127.0.0.1:1"\n', undefined],
    ['[orchestrator]\n[[server]]\nlisten = "127.0.0.1:1"\n', undefined],
    ['[orchestrator]\nlisten = "nonsense"\n', undefined],
    ["[orchestrator]\nlisten = '0.0.0.0:9000'\n", { host: '0.0.0.0', port: 9000 }],
    ['orchestrator.listen = "127.0.0.1:7"\n[[server]]\nname = "x\n', { host: '127.0.0.1', port: 7 }],
    ['[server.x]\norchestrator.listen = "127.0.0.1:7"\n', undefined],
    ['[orchestrator]\n"listen" = "127.0.0.1:6"\n', { host: '127.0.0.1', port: 6 }],
    ['[orchestrator]\nlisten = "${LISTEN}"\n', undefined],
    ['', undefined],
  ])('%j gives %j', (text, listen) => {
    expect(scanListen(text)).toEqual(listen);
  });
});

describe('scanOrchestratorValue', () => {
  it('reads a token too, but not one that takes a variable', () => {
    expect(scanOrchestratorValue('[orchestrator]\ntoken = "s3cret"\nlisten = "x\n', 'token')).toBe('s3cret');
    expect(scanOrchestratorValue('[orchestrator]\ntoken = "${MCP_ORCHESTRATOR_TOKEN}"\n', 'token')).toBeUndefined();
    expect(scanOrchestratorValue('[orchestrator]\ntokens = "s3cret"\n', 'token')).toBeUndefined();
  });
});
