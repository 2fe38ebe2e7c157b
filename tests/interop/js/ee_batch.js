// Google's Earth Engine JavaScript client (`@google/earthengine`) against the eeops emulator.
//
// Usage: node ee_batch.js HOST:PORT PROJECT TASK_ID... (at least four running tasks)
//
// With arrays of names, `ee.data.getOperation`, `ee.data.cancelOperation`, `ee.data.cancelTask`
// and `ee.data.getTaskStatus` send ONE multipart/mixed POST to `{base}/batch` (the client's
// BatchCall). The script checks that every part is answered, that the cancelled operations end
// with error code 1 (CANCELLED), and that a batch naming an unknown operation reports that part
// by name. It prints `ok` on success; any failure throws (non-zero exit). Only the loopback
// address it is given is ever contacted: no credentials are set, so the client sends none.
'use strict';

const assert = require('assert');
const ee = require('@google/earthengine');

const [addr, project, ...ids] = process.argv.slice(2);
if (!addr || !project || ids.length < 4) {
  console.error('usage: node ee_batch.js HOST:PORT PROJECT TASK_ID TASK_ID TASK_ID TASK_ID...');
  process.exit(2);
}
const host = addr.split(':')[0];
if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
  console.error(`refusing a non-loopback address: ${addr}`);
  process.exit(2);
}
const base = `http://${addr}`;
const names = ids.map((id) => `projects/${project}/operations/${id}`);

// The client's callback style, as a promise: resolves with the value, rejects with the
// client's error message.
const call = (fn, ...args) =>
  new Promise((resolve, reject) => {
    fn(...args, (value, err) => (err ? reject(new Error(err)) : resolve(value)));
  });
// The same call, but resolving with both the value and the error message.
const settle = (fn, ...args) =>
  new Promise((resolve) => {
    fn(...args, (value, err) => resolve({value, err}));
  });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Each answer keyed by name; every name answered, with its own record.
function checkAll(result, what) {
  assert.ok(result && typeof result === 'object', `${what}: no result`);
  for (const name of names) {
    const op = result[name];
    assert.ok(op, `${what}: no answer for ${name} in ${JSON.stringify(Object.keys(result))}`);
    assert.strictEqual(op.name, name, `${what}: answer for ${name} names ${op.name}`);
    assert.ok(op.metadata, `${what}: ${name} has no metadata`);
  }
}

async function main() {
  // Base URL without auth: no token set, so the client sends no Authorization header at all.
  ee.data.initialize(base, base, null, project);

  // 1. One batch of gets: all running.
  const before = await call(ee.data.getOperation, names);
  checkAll(before, 'getOperation before cancel');
  for (const name of names) {
    const op = before[name];
    assert.ok(!op.done, `${name} is already done before the cancel`);
    assert.strictEqual(op.metadata.state, 'RUNNING', `${name} state before the cancel`);
  }

  // 2. Batches of cancels, half through cancelOperation, half through the legacy cancelTask:
  //    every part answers `{}` (an error in any part rejects).
  const half = Math.floor(names.length / 2);
  await call(ee.data.cancelOperation, names.slice(0, half));
  await call(ee.data.cancelTask, names.slice(half));

  // 3. Batches of gets until all are done (bounded: catches a hang, not a speed).
  let after;
  for (let i = 0; i < 200; i++) {
    after = await call(ee.data.getOperation, names);
    checkAll(after, 'getOperation after cancel');
    if (names.every((n) => after[n].done)) {
      break;
    }
    await sleep(50);
  }
  for (const name of names) {
    const op = after[name];
    assert.ok(op.done, `${name} never finished after its cancel`);
    assert.ok(op.error, `${name} finished without an error: ${JSON.stringify(op.response)}`);
    assert.strictEqual(op.error.code, 1, `${name} error code`);
    assert.strictEqual(op.metadata.state, 'CANCELLED', `${name} state after the cancel`);
  }

  // The synchronous form (no callback) sends the same batch and returns the answers.
  const sync = ee.data.getOperation(names);
  checkAll(sync, 'synchronous getOperation');
  assert.ok(names.every((n) => sync[n].done && sync[n].error.code === 1), 'synchronous answers');

  // 4. The legacy multi-id task status: also one batch, in the client's task shape. (The
  //    client puts a bare task id in its default project, `earthengine-legacy`, so names.)
  const tasks = await call(ee.data.getTaskStatus, names);
  assert.strictEqual(tasks.length, ids.length, 'getTaskStatus answers one task per id');
  tasks.forEach((task, i) => {
    assert.strictEqual(task.id, ids[i], 'getTaskStatus keeps the order');
    assert.strictEqual(task.state, 'CANCELLED', `task ${ids[i]} state`);
  });

  // 5. A batch naming an unknown operation: the known ones are still answered, and the
  //    unknown part is reported by its name.
  const missing = `projects/${project}/operations/NOSUCHOPERATIONXXXXXXXXXX`;
  const {value, err} = await settle(ee.data.getOperation, [...names, missing]);
  assert.ok(err, 'a batch with an unknown operation reported no error');
  assert.ok(err.includes(missing), `the error does not name the unknown part: ${err}`);
  checkAll(value, 'getOperation with an unknown part');
  assert.ok(!(missing in value), 'the unknown operation has an answer');

  console.log(`${names.length} operations in each batch`);
  console.log('ok');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  },
);
