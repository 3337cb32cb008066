import express, { type NextFunction, type Request, type Response } from 'express';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { sendError } from '../common/error-response.js';
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

/** Where `npm run build` (vite) puts the console: dist/console under the working directory. */
export function consoleDirectory(cwd = process.cwd()): string {
  return path.resolve(cwd, 'dist', 'console');
}

/**
 * Serves the console at /console (same origin as the API). The page itself is public; everything
 * it shows comes from the API with the user's token. Hashed assets are cached for good, the page
 * never. A checkout that was compiled without the console build answers 503 with the usual error
 * shape, naming the command that builds it.
 */
export function consoleMiddleware(directory = consoleDirectory()): express.Router {
  const router = express.Router();
  router.use((req: Request, res: Response, next: NextFunction) => {
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Referrer-Policy', 'no-referrer');
    if (!existsSync(path.join(directory, 'index.html'))) {
      sendError(req, res, new VaultError('service_unavailable', 'the console is not built: run npm run build'));
      return;
    }
    next();
  });
  router.use(
    '/assets',
    express.static(path.join(directory, 'assets'), { immutable: true, maxAge: '365d', index: false, dotfiles: 'deny' }),
  );
  router.get('/', (req: Request, res: Response) => {
    if (!req.originalUrl.split('?')[0]?.endsWith('/')) {
      res.redirect(301, '/console/');
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.sendFile(path.join(directory, 'index.html'));
  });
  // Routing is in the page's hash, so any other path under /console is simply not there.
  router.use((req: Request, res: Response) => sendError(req, res, new VaultError('not_found', 'no such console file')));
  return router;
}
