// panva/oidc-provider (OpenID Certified) as a real upstream OpenID provider for Gatehouse's
// federation tests, started by tests/upstreams/oidc_provider.py. Everything it needs comes from
// the environment: PORT, and CONFIG, a JSON object
//   { "client_id", "client_secret", "redirect_uris": [...],
//     "accounts": { "<sub>": { "email", "email_verified", "name", ... } },
//     "claims_in_id_token": false }
// The code flow requires PKCE (RFC 7636) for every client. The login and consent steps are a
// minimal interaction of its own (oidc-provider's "User flows" guide) that a test drives over
// HTTP: GET /interaction/<uid> says which prompt is pending (a small HTML page with one form,
// so a browser can drive it too), POST /interaction/<uid>/login with `login=<sub>` signs that
// account in, POST /interaction/<uid>/confirm grants what the client asked for, and
// POST /interaction/<uid>/abort answers the client `access_denied` (the person cancelled).
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 3000);
const config = JSON.parse(process.env.CONFIG || '{}');
const accounts = config.accounts || {};
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'upstream' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: config.client_id,
      client_secret: config.client_secret,
      grant_types: ['authorization_code'],
      redirect_uris: config.redirect_uris,
      response_types: ['code'],
      token_endpoint_auth_method: config.token_endpoint_auth_method || 'client_secret_basic',
    },
  ],
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'picture'],
  },
  conformIdTokenClaims: !config.claims_in_id_token,
  findAccount: (ctx, sub) => (
    accounts[sub] ? { accountId: sub, claims: () => ({ sub, ...accounts[sub] }) } : undefined
  ),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: { devInteractions: { enabled: false } },
  cookies: { keys: ['gatehouse-test-upstream'] },
  ttl: { AccessToken: 300, AuthorizationCode: 60, IdToken: 300, Interaction: 600, Session: 600, Grant: 600 },
});

const callback = provider.callback();

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function page(res, uid, prompt) {
  const action = prompt === 'login' ? 'login' : 'confirm';
  const field = prompt === 'login' ? '<label>Account <input name="login"></label>' : '';
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>${prompt}</title><form method="post" action="/interaction/${uid}/${action}">`
    + `${field}<button type="submit">${prompt === 'login' ? 'Sign in' : 'Allow'}</button></form>`
    + `<form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`);
}

async function consent(details) {
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  return grant.save();
}

async function interaction(req, res, uid, step) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET' && !step) return page(res, uid, details.prompt.name);
  if (req.method !== 'POST') { res.writeHead(405); return res.end(); }
  const form = await readForm(req);
  let result;
  if (step === 'abort') {
    result = { error: 'access_denied', error_description: 'the person cancelled' };
  } else if (step === 'login') {
    const login = form.get('login');
    if (!accounts[login]) { res.writeHead(400); return res.end('unknown account'); }
    result = { login: { accountId: login } };
  } else if (step === 'confirm') {
    result = { consent: { grantId: await consent(details) } };
  } else {
    res.writeHead(404);
    return res.end();
  }
  return provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

createServer(async (req, res) => {
  const match = /^\/interaction\/([^/?]+)(?:\/(login|confirm|abort))?$/.exec(req.url.split('?')[0]);
  if (!match) return callback(req, res);
  try {
    return await interaction(req, res, match[1], match[2]);
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    return res.end(String(err && err.message));
  }
}).listen(port, '127.0.0.1', () => console.log(`oidc-provider ${issuer}`));
