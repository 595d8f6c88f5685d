// The smallest handler, for the cold-start proxy's baseline: what Node.js and
// runtime.js cost before any library is loaded.
'use strict';
exports.handler = async () => ({ statusCode: 200, body: 'hello' });
