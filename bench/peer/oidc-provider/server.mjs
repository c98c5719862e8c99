// node-oidc-provider set up as tokenmint's benchmark peer: its default in-memory adapter,
// rotating refresh tokens, ES256 JWT access tokens for one resource server. The refresh path
// measured is the provider's own token endpoint, unmodified; the one addition is a bench-only
// seeding route, since the provider hands out a first refresh token only at the end of an
// authorization-code flow (a browser login), which a load driver cannot take.
//
//   PORT=0 node server.mjs      prints `listening on http://127.0.0.1:<port>` once ready
//
//   POST /bench/seed?count=N    N new refresh chains (a grant and a refresh token each, for
//                               account bench-user-<n>); answers {"refresh_tokens": [...]}
//   POST /token                 the provider's token endpoint (client_secret_post:
//                               client_id=bench, client_secret=bench-secret)
//
// Loopback only. Everything lives in this process's memory and is gone when it stops.
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const host = '127.0.0.1';
const resource = 'urn:tokenmint:bench:api';
// The same lifetimes as tokenmint's defaults: 15-minute access tokens, 30-day refresh tokens.
const accessTokenTtl = 15 * 60;
const refreshTokenTtl = 30 * 24 * 60 * 60;

const signingKey = {
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  kid: 'bench-es256',
  alg: 'ES256',
  use: 'sig',
};

function configuration() {
  return {
    clients: [{
      client_id: 'bench',
      client_secret: 'bench-secret',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://bench.invalid/callback'],
      id_token_signed_response_alg: 'ES256',
    }],
    jwks: { keys: [signingKey] },
    cookies: { keys: ['bench-cookie-key'] },
    findAccount: (_ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: accessTokenTtl,
      RefreshToken: refreshTokenTtl,
      Grant: refreshTokenTtl,
    },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api',
          audience: resource,
          accessTokenTTL: accessTokenTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  };
}

/** A grant and a first refresh token for `accountId`, as a finished code flow leaves them. */
async function seedChain(provider, client, accountId) {
  const grant = new provider.Grant({ accountId, clientId: client.clientId });
  grant.addResourceScope(resource, 'api');
  const grantId = await grant.save();
  const refreshToken = new provider.RefreshToken({
    accountId,
    client,
    grantId,
    gty: 'authorization_code',
    resource,
    scope: 'api',
  });
  return refreshToken.save();
}

async function seed(provider, url, response) {
  const count = Number(url.searchParams.get('count') ?? '1');
  if (!Number.isInteger(count) || count < 1 || count > 100_000) {
    response.writeHead(400).end('count: 1 to 100000\n');
    return;
  }
  const client = await provider.Client.find('bench');
  const start = Number(url.searchParams.get('from') ?? '0');
  const tokens = [];
  for (let n = start; n < start + count; n += 1) {
    tokens.push(await seedChain(provider, client, `bench-user-${n}`));
  }
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ refresh_tokens: tokens }));
}

const server = createServer();
server.listen(Number(process.env.PORT ?? '0'), host, () => {
  const { port } = server.address();
  const provider = new Provider(`http://${host}:${port}`, configuration());
  const handle = provider.callback();
  server.on('request', (request, response) => {
    const url = new URL(request.url, `http://${host}:${port}`);
    if (request.method === 'POST' && url.pathname === '/bench/seed') {
      seed(provider, url, response).catch((err) => {
        console.error(err);
        response.writeHead(500).end(`${err}\n`);
      });
      return;
    }
    handle(request, response);
  });
  console.log(`listening on http://${host}:${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
