import { expect } from 'vitest';
import { AuthdError } from '../../src/protocol/errors.js';

/** The AuthdError a promise rejects with (and a failed test if it resolves or throws anything else). */
export async function rejection(promise: Promise<unknown>): Promise<AuthdError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthdError);
  return err as AuthdError;
}
