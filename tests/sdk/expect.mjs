// Assertions the SDK tests share.
import assert from 'node:assert/strict';

import { ClientResponseError } from 'pocketbase';

// Awaits promise, which must reject with a ClientResponseError of status;
// returns the error (its response holds the API's error shape).
export async function rejects(promise, status) {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ClientResponseError, `a ClientResponseError, got ${err}`);
    assert.equal(err.status, status, JSON.stringify(err.response));
    return err;
  }
  assert.fail(`expected a ${status}`);
}
