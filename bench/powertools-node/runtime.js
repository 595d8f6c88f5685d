// A minimal Lambda runtime-API client for the benchmark (in place of the
// managed Node.js runtime): load the handler module (init), then forever
// GET the next invocation, call the handler with the event and a small
// context object, and POST its answer or its error back.
//
//   AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001 node runtime.js [module.function]
//
// The handler is named as Lambda's _HANDLER setting names it, relative to
// this folder (default index.handler).
'use strict';
const http = require('node:http');
const path = require('node:path');

const api = process.env.AWS_LAMBDA_RUNTIME_API;
if (!api) {
  console.error('AWS_LAMBDA_RUNTIME_API is required');
  process.exit(2);
}
const [host, port] = api.split(':');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const base = '/2018-06-01/runtime';

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host,
        port: Number(port),
        method,
        path: base + path,
        agent,
        headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const errorBody = (err) =>
  JSON.stringify({
    errorType: (err && err.name) || 'Error',
    errorMessage: (err && err.message) || String(err),
  });

function contextFor(headers) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  return {
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

async function main() {
  let handler;
  try {
    const spec = process.argv[2] || 'index.handler';
    const dot = spec.lastIndexOf('.');
    handler = require(path.join(__dirname, spec.slice(0, dot)))[spec.slice(dot + 1)];
    if (typeof handler !== 'function') throw new Error(`${spec} is not a function`);
  } catch (err) {
    await call('POST', '/init/error', errorBody(err));
    throw err;
  }
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    const traceId = next.headers['lambda-runtime-trace-id'];
    if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
    let result;
    try {
      result = await handler(JSON.parse(next.body.toString('utf8')), contextFor(next.headers));
    } catch (err) {
      await call('POST', `/invocation/${id}/error`, errorBody(err));
      continue;
    }
    await call('POST', `/invocation/${id}/response`, JSON.stringify(result === undefined ? null : result));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
