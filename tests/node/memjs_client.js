// memjs (binary protocol only), through its whole API.
// Usage: node memjs_client.js HOST PORT. Prints one line per check; exits 1
// at the first that fails.
'use strict';

const assert = require('assert');
const memjs = require('memjs');

const [host, port] = process.argv.slice(2);
const client = memjs.Client.create(`${host}:${port}`, { retries: 0, timeout: 5, logger: { log() {} } });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function check(what, test) {
  try {
    await test();
  } catch (error) {
    console.error(`FAILED: ${what}: ${error.stack}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

async function main() {
  await check('flush', async () => {
    const results = await client.flush();
    assert.deepStrictEqual(results, { [`${host}:${port}`]: true });
  });
  await check('set and get', async () => {
    assert.strictEqual(await client.set('k', 'hello', {}), true);
    const { value, flags } = await client.get('k');
    assert.strictEqual(value.toString(), 'hello');
    assert.strictEqual(flags.readUInt32BE(0), 0);
  });
  await check('get of a missing key', async () => {
    assert.deepStrictEqual(await client.get('missing'), { value: null, flags: null });
  });
  await check('binary values and keys', async () => {
    const value = Buffer.from([0, 255, 13, 10, 0x80]);
    assert.strictEqual(await client.set('bin\u00e9', value, {}), true);
    assert.deepStrictEqual((await client.get('bin\u00e9')).value, value);
  });
  await check('add', async () => {
    assert.strictEqual(await client.add('fresh', '1', {}), true);
    assert.strictEqual(await client.add('fresh', '2', {}), false, 'a present key is not added');
    assert.strictEqual((await client.get('fresh')).value.toString(), '1');
  });
  await check('replace', async () => {
    assert.strictEqual(await client.replace('fresh', '3', {}), true);
    assert.strictEqual(await client.replace('absent', 'x', {}), false, 'an absent key is not replaced');
    assert.strictEqual((await client.get('fresh')).value.toString(), '3');
  });
  await check('append, and prepend (which memjs sends as an append)', async () => {
    assert.strictEqual(await client.append('fresh', '-tail'), true);
    assert.strictEqual(await client.prepend('fresh', '-more'), true);
    assert.strictEqual((await client.get('fresh')).value.toString(), '3-tail-more');
    await assert.rejects(client.append('absent', 'x'), /Item not stored/);
  });
  await check('delete', async () => {
    assert.strictEqual(await client.delete('fresh'), true);
    assert.strictEqual(await client.delete('fresh'), false);
    assert.deepStrictEqual(await client.get('fresh'), { value: null, flags: null });
  });
  await check('increment creates a counter with its initial value, then adds', async () => {
    assert.deepStrictEqual(await client.increment('n', 5, { initial: 10 }), { success: true, value: 10 });
    assert.deepStrictEqual(await client.increment('n', 5, {}), { success: true, value: 15 });
    assert.strictEqual((await client.get('n')).value.toString(), '15');
  });
  await check('decrement stops at zero', async () => {
    assert.deepStrictEqual(await client.decrement('n', 100, {}), { success: true, value: 0 });
    assert.deepStrictEqual(await client.decrement('down', 1, { initial: 3 }), { success: true, value: 3 });
  });
  await check('increment of a non-number', async () => {
    await assert.rejects(client.increment('k', 1, {}), /Incr\/Decr on non-numeric value/);
  });
  await check('touch', async () => {
    assert.strictEqual(await client.set('t', 'v', { expires: 3600 }), true);
    assert.strictEqual(await client.touch('t', 1), true);
    assert.strictEqual(await client.touch('absent', 10), false);
  });
  await check('expiry', async () => {
    assert.strictEqual(await client.set('short', 'v', { expires: 1 }), true);
    assert.strictEqual((await client.get('short')).value.toString(), 'v');
    await sleep(2100);
    assert.deepStrictEqual(await client.get('short'), { value: null, flags: null });
    assert.deepStrictEqual(await client.get('t'), { value: null, flags: null });
  });
  await check('many requests in flight at once', async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `many-${i}`);
    await Promise.all(keys.map((key) => client.set(key, key, {})));
    const values = await Promise.all(keys.map((key) => client.get(key)));
    assert.deepStrictEqual(values.map(({ value }) => value.toString()), keys);
  });
  await check('a value over the limit is refused and takes the old value with it', async () => {
    assert.strictEqual(await client.set('big', 'old', {}), true);
    await assert.rejects(client.set('big', Buffer.alloc(2 << 20), {}), /Value too large/);
    assert.deepStrictEqual(await client.get('big'), { value: null, flags: null });
  });
  await check('stats', async () => {
    const stats = await new Promise((resolve, reject) => {
      client.stats((error, server, stats) => (error ? reject(error) : resolve(stats)));
    });
    for (const name of ['pid', 'uptime', 'version', 'curr_items', 'cmd_get', 'cmd_set', 'get_hits']) {
      assert.ok(name in stats, name);
    }
    assert.ok(Number(stats.cmd_set) > 0);
  });
  await check('stats settings', async () => {
    const settings = await new Promise((resolve, reject) => {
      client.statsWithKey('settings', (error, server, stats) => (error ? reject(error) : resolve(stats)));
    });
    assert.ok('item_size_max' in settings);
  });
  client.quit();
  console.log('done');
}

main();
