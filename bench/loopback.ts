// Preloaded (`node --import`) into targets that cannot be told which address to bind —
// supergateway and server-everything's own HTTP mode call `listen(port)`, which binds every
// interface. This keeps the bench on loopback: a listen without a host gets 127.0.0.1.
import net from 'node:net';

const listen = net.Server.prototype.listen;

function isPort(value: unknown): boolean {
  return typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
}

net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
  const [first, second] = args;
  if (isPort(first) && (second === undefined || typeof second === 'function')) {
    args.splice(1, 0, '127.0.0.1');
  } else if (typeof first === 'object' && first !== null && 'port' in first && !('host' in first)) {
    args[0] = { ...first, host: '127.0.0.1' };
  }
  return (listen as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof net.Server.prototype.listen;

// The preload is for this process only, not for the servers it spawns.
delete process.env.NODE_OPTIONS;
