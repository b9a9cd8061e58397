/**
 * `sabnetmap demo`: serves the teaching demo (dist/demo, built by `npm run build`) with
 * the headers SharedArrayBuffer needs (the server is demo.ts), until Ctrl-C or SIGTERM.
 * It handles those signals itself (they close the server) and never takes the context's
 * stop signal: a closed stdout ends it at once.
 */
import { isIP } from 'node:net';
import { NetmapError } from '../errors.js';
import { isInt, num, type Opts, parse, UsageError } from './args.js';
import { type CliContext, untilSignal } from './context.js';
import { startDemoServer } from './demo.js';

/** A host name or an IP address for --host: letters, digits, '.', '-', ':' (IPv6), nothing else. */
function hostOption(o: Opts): string {
  const host = (o.host as string | undefined) ?? '127.0.0.1';
  if (
    isIP(host) === 0 &&
    !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)
  ) {
    throw new UsageError(`--host must be a host name or an IP address, got '${host}'`);
  }
  return host;
}

/** Loopback addresses: the only plain-HTTP origins a browser treats as secure (and so isolates). */
const isLoopback = (host: string) => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * `demo`: serves dist/demo (built by `npm run build`, never here) until Ctrl-C or SIGTERM,
 * which close the server and its connections; the exit code is then 128 + the signal's
 * number (130 for Ctrl-C), as for `bench run` and `start`. A second signal quits at once.
 */
export async function demoCommand(argv: string[], ctx: CliContext): Promise<number> {
  const o = parse(argv, { port: { type: 'string' }, host: { type: 'string' } });
  if (o.help) {
    process.stdout.write(ctx.help);
    return 0;
  }
  const port = num(o, 'port', 0, (v) => isInt(v) && v >= 0 && v <= 65535, 'an integer from 0 (a free port) to 65535');
  const host = hostOption(o);
  let server: Awaited<ReturnType<typeof startDemoServer>>;
  try {
    server = await startDemoServer({ port, host });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (e instanceof NetmapError || typeof err.code !== 'string') throw e;
    // The address cannot be had (in use, privileged, not this machine's, unknown name):
    // another --port or --host fixes it.
    throw new UsageError(
      `cannot listen on ${host}:${port}: ${err.code}${err.code === 'EADDRINUSE' ? ' (the port is in use: try another --port, or none for a free one)' : ''}`,
    );
  }
  // The handlers go in before the URL is printed: whoever reads it may signal at once.
  const stopped = untilSignal(() => server.close());
  process.stdout.write(`demo: ${server.url}\n`);
  if (!isLoopback(host)) {
    process.stderr.write(
      `sabnetmap: note: browsers isolate plain-HTTP pages only from localhost: elsewhere open it over HTTPS (see ${server.root}/HEADERS.md)\n`,
    );
  }
  return stopped;
}
