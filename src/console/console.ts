import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { sendError } from '../common/error-response.js';
import { isReadMethod, sendStaticFile } from '../common/static-files.js';
import { VaultError } from '../common/vault-error.js';

/**
 * The console's own policy: scripts, styles and data from this origin only, no inline script or
 * style, no framing, no plugins, no form posts elsewhere. The token never leaves through a URL:
 * the console keeps it in sessionStorage and sends it as a bearer header.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

const PREFIX = '/console';
const ASSETS = '/assets/';

/** Where `npm run build` (vite) puts the console: dist/console under the working directory. */
export function consoleDirectory(cwd = process.cwd()): string {
  return path.resolve(cwd, 'dist', 'console');
}

/** A 301 with Express's little body: HTML for a client that asks for it, text otherwise. */
async function redirect(req: FastifyRequest, reply: FastifyReply, location: string): Promise<void> {
  const accept = req.headers.accept ?? '';
  const html = /\btext\/html\b/i.test(accept) && !/\btext\/plain\b/i.test(accept);
  const text = `Moved Permanently. Redirecting to ${location}`;
  void reply.code(301).headers({ Location: location, Vary: 'Accept', 'Content-Type': `${html ? 'text/html' : 'text/plain'}; charset=utf-8` });
  await reply.send(html ? `<!DOCTYPE html><head><title>Moved Permanently</title></head><body><p>${text}</p></body>` : text);
}

const noSuchFile = (): VaultError => new VaultError('not_found', 'no such console file');

/**
 * Serves the console at /console (same origin as the API). The page itself is public; everything
 * it shows comes from the API with the user's token. Hashed assets are cached for good, the page
 * never. A checkout that was compiled without the console build answers 503 with the usual error
 * shape, naming the command that builds it. Every method and path under /console is answered here
 * (404 in the error shape for anything but the page and its assets), with the console's headers.
 */
export function registerConsole(fastify: FastifyInstance, directory = consoleDirectory()): void {
  const assets = path.join(directory, 'assets');
  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    void reply.headers({ 'Content-Security-Policy': CONSOLE_CSP, 'Cross-Origin-Opener-Policy': 'same-origin', 'Referrer-Policy': 'no-referrer' });
    if (!existsSync(path.join(directory, 'index.html'))) {
      sendError(req, reply, new VaultError('service_unavailable', 'the console is not built: run npm run build'));
      return;
    }
    // The path below /console as sent (the router matched it case-insensitively); send decodes it.
    const rest = req.url.split('?')[0]!.slice(PREFIX.length);
    const readable = isReadMethod(req);
    if (readable && (rest === '' || rest === '/')) {
      if (rest === '') {
        // Relative asset URLs in the page need the trailing slash.
        await redirect(req, reply, `${PREFIX}/`);
        return;
      }
      await sendStaticFile(req, reply, '/index.html', { root: directory, cacheControl: 'no-store' }, noSuchFile);
      return;
    }
    if (readable && rest.toLowerCase().startsWith(ASSETS) && rest.length > ASSETS.length) {
      await sendStaticFile(req, reply, rest.slice(ASSETS.length - 1), { root: assets, immutable: true, maxAge: '365d' }, noSuchFile);
      return;
    }
    // Routing is in the page's hash, so any other path under /console is simply not there.
    sendError(req, reply, noSuchFile());
  };
  for (const url of [PREFIX, `${PREFIX}/*`]) fastify.all(url, { config: { readsNoBody: true } }, handler);
}
