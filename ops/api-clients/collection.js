'use strict';
// Makes docs/postman_collection.json from docs/openapi.json with openapi-to-postmanv2 (pinned in
// package.json), then makes the result the same on every run and ready to use once imported:
//
//   node ops/api-clients/collection.js OPENAPI_JSON COLLECTION_JSON
//
// What it adds to the converter, and why:
// - the converter's schema faker draws from Math.random and fakes dates around the current
//   time, and it gives every item a random uuid: Math.random is seeded and the clock fixed
//   while it runs, and the ids are dropped (Postman makes its own on import), so a drift
//   check can compare files;
// - request bodies take their schema's first example: FastAPI writes OpenAPI 3.1 `examples`
//   on the schema, which the converter reads only when set on the media type;
// - collection variables: `baseUrl` (the converter leaves "/", the document names no server)
//   as `ledger dev` serves it, `bearerToken` that the bearer auth of signed-in requests reads,
//   and one per path parameter (`{{product_id}}`, ...), set by the requests that return one;
// - small test scripts on the requests that return a token or an id, storing it in those
//   variables, so a newcomer can sign in and follow on without copying values by hand.

const fs = require('fs');
const crypto = require('crypto');

const BASE_URL = 'http://127.0.0.1:8000';
// The demo catalog (`ledger demo seed`, loaded by `ledger dev`) holds this product.
const DEMO_PRODUCT = 'prod_1';

// Which response field each request stores in which collection variable, by "METHOD path".
const TOKENS = { bearerToken: 'data.access_token', refreshToken: 'data.refresh_token' };
const CAPTURES = {
  'POST /api/v1/auth/login': TOKENS,
  'POST /api/v1/auth/refresh': TOKENS,
  'POST /api/v1/auth/register': { user_id: 'data.id' },
  'POST /api/v1/products': { product_id: 'data.id' },
  'POST /api/v1/orders': { order_id: 'data.id' },
};

// The clock the converter sees: faked dates lie around it.
const FIXED_NOW = Date.UTC(2026, 0, 1);

// mulberry32: a small seeded generator, so the faker's values repeat from run to run.
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function schemaExample(document, schema) {
  const branch = schema && schema.anyOf ? schema.anyOf[0] : schema;
  if (!branch || !branch.$ref) {
    return undefined;
  }
  const target = document.components.schemas[branch.$ref.split('/').pop()];
  return target.examples ? target.examples[0] : undefined;
}

function withBodyExamples(document) {
  const copy = structuredClone(document);
  for (const methods of Object.values(copy.paths)) {
    for (const operation of Object.values(methods)) {
      const content = operation.requestBody ? operation.requestBody.content : {};
      for (const media of Object.values(content)) {
        const example = schemaExample(copy, media.schema);
        if (media.example === undefined && example !== undefined) {
          media.example = example;
        }
      }
    }
  }
  return copy;
}

class FixedDate extends Date {
  constructor(...args) {
    super(...(args.length ? args : [FIXED_NOW]));
  }

  static now() {
    return FIXED_NOW;
  }
}

function convert(document) {
  Math.random = seededRandom(18);
  globalThis.Date = FixedDate;
  const converter = require('openapi-to-postmanv2');
  const options = {
    folderStrategy: 'Tags',
    parametersResolution: 'Example',
    enableOptionalParameters: false,
  };
  const input = { type: 'json', data: withBodyExamples(document) };
  let collection;
  converter.convertV2(input, options, (error, status) => {
    if (error || !status.result) {
      throw new Error(`openapi-to-postmanv2: ${error ? error.message : status.reason}`);
    }
    collection = status.output[0].data;
  });
  // convertV2 calls back before it returns; say so loudly should a release change that.
  if (collection === undefined) {
    throw new Error('openapi-to-postmanv2 did not call back synchronously');
  }
  return collection;
}

function dropIds(items) {
  for (const item of items) {
    delete item.id;
    (item.response || []).forEach((response) => delete response.id);
    dropIds(item.item || []);
  }
}

function operationKey(request) {
  return `${request.method} /${request.url.path.join('/')}`;
}

function captureScript(fields) {
  const lines = ['const body = pm.response.json();', 'if (pm.response.code < 300) {'];
  for (const [variable, field] of Object.entries(fields)) {
    lines.push(`    pm.collectionVariables.set(${JSON.stringify(variable)}, body.${field});`);
  }
  lines.push('}');
  return { listen: 'test', script: { type: 'text/javascript', exec: lines } };
}

function requests(collection) {
  return collection.item.flatMap((folder) => folder.item || [folder]);
}

function finish(collection) {
  dropIds(collection.item);
  // A fixed id from the title: importing a newer file offers to replace the older one.
  const hex = crypto.createHash('sha1').update(collection.info.name).digest('hex');
  collection.info._postman_id = [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16),
    hex.slice(16, 20), hex.slice(20, 32)].join('-');
  const variables = { baseUrl: BASE_URL, bearerToken: '', refreshToken: '' };
  const captured = new Set();
  for (const item of requests(collection)) {
    const key = operationKey(item.request);
    for (const variable of item.request.url.variable || []) {
      variable.value = `{{${variable.key}}}`;
      variables[variable.key] = variable.key === 'product_id' ? DEMO_PRODUCT : '';
    }
    if (CAPTURES[key]) {
      item.event = [captureScript(CAPTURES[key])];
      captured.add(key);
    }
  }
  const missing = Object.keys(CAPTURES).filter((key) => !captured.has(key));
  if (missing.length) {
    throw new Error(`no request in the collection for ${missing.join(', ')}`);
  }
  collection.variable = Object.entries(variables).map(([key, value]) => ({ key, value }));
  return collection;
}

function main() {
  const [source, target] = process.argv.slice(2);
  if (!source || !target) {
    console.error('usage: node collection.js OPENAPI_JSON COLLECTION_JSON');
    process.exit(2);
  }
  const document = JSON.parse(fs.readFileSync(source, 'utf8'));
  const collection = finish(convert(document));
  fs.writeFileSync(target, `${JSON.stringify(collection, null, 2)}\n`);
}

main();
