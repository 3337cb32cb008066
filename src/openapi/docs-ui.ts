import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createRequire } from 'node:module';
import { sendStaticFile } from '../common/static-files.js';
import { VaultError } from '../common/vault-error.js';

const PREFIX = '/docs';

/**
 * The Swagger UI page of Nest's SwaggerModule (its template, trimmed of what the vault does not
 * configure), loading the document from /docs-json.
 */
const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>Swagger UI</title>
  <link rel="stylesheet" type="text/css" href="${PREFIX}/swagger-ui.css">
  <link rel="icon" type="image/png" href="${PREFIX}/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="${PREFIX}/favicon-16x16.png" sizes="16x16">
  <style>
    html { box-sizing: border-box; overflow: -moz-scrollbars-vertical; overflow-y: scroll; }
    *, *:before, *:after { box-sizing: inherit; }
    body { margin: 0; background: #fafafa; }
    .swagger-ui .topbar .download-url-wrapper { display: none }
  </style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="${PREFIX}/swagger-ui-bundle.js"></script>
<script src="${PREFIX}/swagger-ui-standalone-preset.js"></script>
<script src="${PREFIX}/swagger-ui-init.js"></script>
</body>
</html>
`;

const INIT = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '${PREFIX}-json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: 'StandaloneLayout',
  });
};
`;

/** Where swagger-ui-dist keeps its files (the version @nestjs/swagger pins). */
function swaggerUiDirectory(): string {
  const getAbsoluteFSPath = createRequire(import.meta.url)('swagger-ui-dist/absolute-path.js') as () => string;
  return getAbsoluteFSPath();
}

const notFound = (): VaultError => new VaultError('not_found', 'not found');

/**
 * Serves the Swagger UI at /docs from swagger-ui-dist (the document itself, /docs-json and
 * /docs-yaml, is SwaggerModule's). Nest's own UI route needs @fastify/static on Fastify, whose
 * current versions need Node 22; the page and its files are served here instead.
 */
export function registerDocsUi(fastify: FastifyInstance, root = swaggerUiDirectory()): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const rest = req.url.split('?')[0]!.slice(PREFIX.length);
    if (rest === '' || rest === '/' || rest.toLowerCase() === '/index.html') {
      await reply.type('text/html; charset=utf-8').send(PAGE);
      return;
    }
    if (rest.toLowerCase() === '/swagger-ui-init.js') {
      await reply.type('application/javascript; charset=utf-8').send(INIT);
      return;
    }
    await sendStaticFile(req, reply, rest, { root }, notFound);
  };
  for (const url of [PREFIX, `${PREFIX}/*`]) fastify.get(url, { config: { readsNoBody: true } }, handler);
}
