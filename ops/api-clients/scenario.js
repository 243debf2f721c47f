'use strict';
// Runs the Postman collection against a live ledger with newman (pinned in package.json):
//
//   LEDGER_ADMIN_EMAIL=... LEDGER_ADMIN_PASSWORD=... \
//     node ops/api-clients/scenario.js docs/postman_collection.json http://127.0.0.1:8000
//
// The collection holds one request per operation, in the converter's order, with the
// document's example bodies; a run against a shop needs an order that makes sense (register
// before login, create a product before ordering it) and bodies naming this run's own account
// and product. So the STEPS below take the collection's requests as they are (URL, headers,
// auth, body, its scripts that store tokens and ids) in the order of a shop's day, change a
// few body fields, and check each answer: the status the document gives for success, and
// `success: true` in the envelope. Every request of the collection must appear in a step:
// a new endpoint fails the run until it is added here. Exit 0 when every check passed.

const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const newman = require('newman');

// An order line of this run's product, at the price the catalog showed.
function line(quantity) {
  return { product_id: '{{product_id}}', quantity, price: '{{price}}' };
}

// "METHOD /path" of a collection request; `as` signs it with another variable's token;
// `body` replaces fields of the example body (objects merge, anything else is replaced);
// `store` keeps response fields in collection variables for the steps after it.
const STEPS = [
  { request: 'GET /api/v1/health' },
  { request: 'GET /api/v1/health/ready' },
  { request: 'GET /api/v1/metrics' },
  {
    request: 'POST /api/v1/auth/login',
    body: { email: '{{adminEmail}}', password: '{{adminPassword}}' },
    store: { adminToken: 'data.access_token' },
  },
  { request: 'POST /api/v1/products', as: 'adminToken', body: { id: 'prod_postman_{{runId}}' } },
  { request: 'POST /api/v1/products/:product_id/stock', as: 'adminToken' },
  { request: 'PATCH /api/v1/products/:product_id', as: 'adminToken' },
  { request: 'GET /api/v1/products' },
  { request: 'GET /api/v1/products/:product_id', store: { price: 'data.price' } },
  {
    request: 'POST /api/v1/auth/register',
    body: { email: 'postman-{{runId}}@example.com' },
    store: { firstUserId: 'data.id' },
  },
  { request: 'POST /api/v1/auth/login', body: { email: 'postman-{{runId}}@example.com' } },
  { request: 'POST /api/v1/auth/refresh', body: { refresh_token: '{{refreshToken}}' } },
  { request: 'GET /api/v1/auth/me' },
  { request: 'POST /api/v1/orders', body: { items: [line(2)] } },
  { request: 'GET /api/v1/orders' },
  { request: 'GET /api/v1/orders/:order_id' },
  { request: 'GET /api/v1/orders/:order_id/history' },
  { request: 'POST /api/v1/orders/:order_id/cancel' },
  { request: 'POST /api/v1/orders', body: { items: [line(1)] } },
  { request: 'POST /api/v1/orders/:order_id/confirm', as: 'adminToken' },
  { request: 'POST /api/v1/orders/:order_id/process', as: 'adminToken' },
  { request: 'POST /api/v1/orders/:order_id/ship', as: 'adminToken' },
  { request: 'POST /api/v1/orders/:order_id/deliver', as: 'adminToken' },
  { request: 'POST /api/v1/orders/:order_id/refund', as: 'adminToken' },
  { request: 'GET /api/v1/orders', as: 'adminToken' },
  { request: 'GET /api/v1/auth/me/export' },
  { request: 'GET /api/v1/reports/sales', as: 'adminToken' },
  { request: 'GET /api/v1/reports/products/top', as: 'adminToken' },
  { request: 'GET /api/v1/reports/inventory', as: 'adminToken' },
  { request: 'GET /api/v1/reports/orders/status', as: 'adminToken' },
  { request: 'GET /api/v1/projections', as: 'adminToken' },
  { request: 'DELETE /api/v1/products/:product_id', as: 'adminToken' },
  // A second customer erases themselves; the admin then erases the first.
  { request: 'POST /api/v1/auth/register', body: { email: 'postman-{{runId}}-2@example.com' } },
  { request: 'POST /api/v1/auth/login', body: { email: 'postman-{{runId}}-2@example.com' } },
  { request: 'DELETE /api/v1/auth/me', body: { password: '{{customerPassword}}' } },
  {
    request: 'DELETE /api/v1/users/:user_id',
    as: 'adminToken',
    path: { user_id: '{{firstUserId}}' },
  },
];

function operationKey(request) {
  return `${request.method} /${request.url.path.join('/')}`;
}

function requests(collection) {
  return collection.item.flatMap((folder) => folder.item || [folder]);
}

function merged(example, changes) {
  if (!changes || typeof changes !== 'object' || Array.isArray(changes)) {
    return changes;
  }
  const result = { ...example };
  for (const [key, value] of Object.entries(changes)) {
    result[key] = merged(example ? example[key] : undefined, value);
  }
  return result;
}

// The success status the OpenAPI document gives the operation, other than 202: that one
// answers `Prefer: respond-async`, which the collection's requests do not send.
function successStatus(document, key) {
  const [method, path] = key.split(' ');
  const operation = document.paths[path.replace(/:(\w+)/g, '{$1}')][method.toLowerCase()];
  const codes = Object.keys(operation.responses)
    .map(Number)
    .filter((code) => code >= 200 && code < 300 && code !== 202);
  if (!codes.length) {
    throw new Error(`${key}: the OpenAPI document gives no success status`);
  }
  return Math.min(...codes);
}

function checks(number, status, step) {
  const lines = [
    `pm.test(${JSON.stringify(`step ${number}: ${step.request} answers ${status}`)}, () => {`,
    `    pm.expect(pm.response.code, pm.response.text()).to.equal(${status});`,
    '});',
    "if ((pm.response.headers.get('Content-Type') || '').includes('application/json')) {",
    "    pm.test('the envelope says success', () => {",
    '        pm.expect(pm.response.json().success).to.equal(true);',
    '    });',
    '}',
  ];
  for (const [variable, field] of Object.entries(step.store || {})) {
    const value = `pm.response.json().${field}`;
    lines.push(`pm.collectionVariables.set(${JSON.stringify(variable)}, ${value});`);
  }
  return { listen: 'test', script: { type: 'text/javascript', exec: lines } };
}

function stepItem(number, item, step, status) {
  const copy = structuredClone(item);
  copy.name = `${number}. ${item.name}`;
  const request = copy.request;
  if (step.body) {
    request.body.raw = JSON.stringify(merged(JSON.parse(request.body.raw), step.body), null, 2);
  }
  if (step.as) {
    const token = { key: 'token', value: `{{${step.as}}}`, type: 'string' };
    request.auth = { type: 'bearer', bearer: [token] };
  }
  for (const variable of request.url.variable || []) {
    if (step.path && step.path[variable.key]) {
      variable.value = step.path[variable.key];
    }
  }
  copy.event = [...(copy.event || []), checks(number, status, step)];
  return copy;
}

function scenario(collection, document) {
  const byKey = new Map();
  for (const item of requests(collection)) {
    byKey.set(operationKey(item.request), item);
  }
  const unknown = STEPS.filter((step) => !byKey.has(step.request)).map((step) => step.request);
  if (unknown.length) {
    throw new Error(`steps name requests the collection does not hold: ${unknown.join(', ')}`);
  }
  const used = new Set(STEPS.map((step) => step.request));
  const left = [...byKey.keys()].filter((key) => !used.has(key));
  if (left.length) {
    throw new Error(`the scenario leaves out: ${left.join(', ')}; add a step for each`);
  }
  const items = STEPS.map((step, i) =>
    stepItem(i + 1, byKey.get(step.request), step, successStatus(document, step.request)),
  );
  return { ...collection, item: items };
}

function main() {
  const [collectionPath, baseUrl] = process.argv.slice(2);
  const adminEmail = process.env.LEDGER_ADMIN_EMAIL;
  const adminPassword = process.env.LEDGER_ADMIN_PASSWORD;
  if (!collectionPath || !baseUrl || !adminEmail || !adminPassword) {
    console.error(
      'usage: LEDGER_ADMIN_EMAIL=E LEDGER_ADMIN_PASSWORD=P node scenario.js COLLECTION BASE_URL',
    );
    process.exit(2);
  }
  const collection = JSON.parse(fs.readFileSync(collectionPath, 'utf8'));
  // The document the collection was made from, committed beside it.
  const openapi = path.join(path.dirname(collectionPath), 'openapi.json');
  const document = JSON.parse(fs.readFileSync(openapi, 'utf8'));
  const register = requests(collection).find(
    (item) => operationKey(item.request) === 'POST /api/v1/auth/register',
  );
  const environment = {
    name: 'ledger',
    values: [
      ['baseUrl', baseUrl.replace(/\/+$/, '')],
      ['adminEmail', adminEmail],
      ['adminPassword', adminPassword],
      ['runId', crypto.randomBytes(6).toString('hex')],
      // The password the register example signs up with, for the erasure's confirmation.
      ['customerPassword', JSON.parse(register.request.body.raw).password],
    ].map(([key, value]) => ({ key, value })),
  };
  const run = {
    collection: scenario(collection, document),
    environment,
    reporters: ['cli'],
    timeoutRequest: 30000,
  };
  newman.run(run, (error, summary) => {
    if (error) {
      console.error(`newman: ${error.message}`);
      process.exit(1);
    }
    const failures = summary.run.failures.length;
    const sent = summary.run.stats.requests.total;
    console.log(`scenario: ${sent} requests, ${failures} failures`);
    process.exit(failures || summary.run.error ? 1 : 0);
  });
}

main();
