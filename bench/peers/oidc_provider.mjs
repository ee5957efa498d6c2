// panva/oidc-provider (OpenID Certified), configured as Gatehouse answers the same requests:
// RS256 JWT access tokens (RFC 9068) and RS256 ID tokens, refresh tokens rotated on every use,
// client_credentials for an m2m client; an in-memory adapter. Started by bench/peers.py.
//
// POST /bench/refresh-token mints a refresh token for a fresh grant the way a finished
// authorization code exchange would (the bench needs many, and the login pages are not what it
// measures); it exists only in this bench server.
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3000);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'bench' };

// oidc-provider's own development adapter, without its 1,000-entry LRU bound (the bench holds
// more live refresh tokens than that): every model in one Map, as that adapter keeps them.
const store = new Map();
class MemoryAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), payload);
    if (payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const grant = store.get(grantKey) || [];
      grant.push(this.key(id));
      store.set(grantKey, grant);
    }
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, id);
    if (payload.uid) store.set(`uid:${payload.uid}`, id);
  }
  async find(id) { return store.get(this.key(id)); }
  async findByUserCode(userCode) { const id = store.get(`userCode:${userCode}`); return this.find(id); }
  async findByUid(uid) { const id = store.get(`uid:${uid}`); return this.find(id); }
  async consume(id) { const payload = store.get(this.key(id)); if (payload) payload.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const key of store.get(`grant:${grantId}`) || []) store.delete(key);
    store.delete(`grant:${grantId}`);
  }
}

const provider = new Provider(issuer, {
  adapter: MemoryAdapter,
  clients: [
    {
      client_id: 'bench-web',
      client_secret: 'bench-web-secret',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example/cb'],
      response_types: ['code'],
    },
    {
      client_id: 'bench-m2m',
      client_secret: 'bench-m2m-secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
  ],
  jwks: { keys: [jwk] },
  findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  features: {
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://api.example',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'api', accessTokenFormat: 'jwt', accessTokenTTL: 300, jwt: { sign: { alg: 'RS256' } } }),
    },
  },
  scopes: ['openid', 'offline_access', 'api'],
  rotateRefreshToken: true,
  issueRefreshToken: () => true,
  ttl: { AccessToken: 300, ClientCredentials: 300, IdToken: 1800, RefreshToken: 2592000, Grant: 2592000 },
});

const callback = provider.callback();
let serial = 0;

createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/bench/refresh-token') {
    const client = await provider.Client.find('bench-web');
    const accountId = `user-${(serial += 1)}`;
    const grant = new provider.Grant({ accountId, clientId: client.clientId });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope('https://api.example', 'api');
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
      accountId, client, grantId, gty: 'authorization_code', scope: 'openid offline_access api',
      resource: 'https://api.example', authTime: Math.floor(Date.now() / 1000), rotations: 0,
    });
    const value = await token.save();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ refresh_token: value }));
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => console.log(`oidc-provider ${issuer}`));
