// Verify tokenmint access tokens with jose, as a Node microservice would.
//
// Usage: node verify_jose.mjs ISSUER AUDIENCE CASES_JSON
// The JWKS URL comes from the issuer's discovery document (createRemoteJWKSet); typ, iss, aud
// and the algorithm allow-list are enforced by jwtVerify. Exits 0 when every case ends as
// expected.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { createRemoteJWKSet, jwtVerify } = await import(require.resolve("jose"));
const { version } = require("jose/package.json");

const [issuer, audience, casesPath] = process.argv.slice(2);
const discovery = await (await fetch(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`)).json();
if (discovery.issuer !== issuer) throw new Error(`discovery names issuer ${discovery.issuer}`);
const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
const cases = JSON.parse(readFileSync(casesPath, "utf8"));

let failures = 0;
for (const { name, token, valid } of cases) {
  let accepted, detail;
  try {
    const { payload } = await jwtVerify(token, jwks, {
      issuer, audience, typ: "at+jwt", algorithms: ["ES256", "EdDSA", "Ed25519", "RS256"],
      requiredClaims: ["exp", "iat", "sub"],
    });
    [accepted, detail] = [true, payload.sub];
  } catch (error) {
    [accepted, detail] = [false, `${error.code ?? error.name}: ${error.message}`];
  }
  const ok = accepted === valid;
  if (!ok) failures += 1;
  console.log(`jose ${version} ${name}: ${ok ? "ok" : "WRONG"} (${detail})`);
}
process.exit(failures ? 1 : 0);
