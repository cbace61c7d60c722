// The device flow's login (RFC 8628): the provider's code shown to the user, then polled until it is
// approved, denied or expires. Joining, waiters and cancelling are the login slot's (login-slot.ts).
import type { DeviceAuthorizationResponse } from 'openid-client';
import { printable } from '../protocol/index.js';
import type { Clock } from './clock.js';
import type { ProfileConfig } from './config/index.js';
import type * as idp from './idp.js';
import type { Begin, LoginInfo } from './login-slot.js';
import { ProviderError } from './provider-answer.js';

export type { Waiter } from './login-slot.js';

type Shown = Extract<LoginInfo, { flow: 'device' }>['device'];

/** Asks the provider for a code; the login then polls until approval, denial, expiry or `abort`. */
export function deviceLogin(deps: { provider: idp.Provider; clock: Clock }): Begin {
  return async (prof: ProfileConfig, abort: AbortController) => {
    const da: DeviceAuthorizationResponse = await deps.provider.startDeviceAuthorization(prof);
    const device = shownToUser(da, prof);
    const expiry = deps.clock.setTimeout(() => abort.abort(), da.expires_in * 1000);
    return {
      info: { flow: 'device', device },
      deadline: deps.clock.now() + da.expires_in * 1000,
      tokens: () => deps.provider.pollDevice(prof, da, abort.signal),
      ended: () => deps.clock.clearTimeout(expiry),
    };
  };
}

/**
 * What the user is shown of the provider's answer, checked where it enters: the URLs must be http(s)
 * (they are opened in a browser), and nothing may carry control characters to the terminal.
 */
function shownToUser(da: DeviceAuthorizationResponse, p: ProfileConfig): Shown {
  const url = webUrl(da.verification_uri);
  const code = printable(da.user_code).trim().slice(0, 64);
  if (!url || !code) {
    throw new ProviderError('protocol', `the provider gave an unusable answer to the device authorization request of profile ${p.name} (${url ? 'no user code' : 'a verification_uri that is not an http(s) URL'})`,
      `check the issuer and endpoint settings of profile ${p.name}`);
  }
  const info: Shown = { verification_uri: url, user_code: code };
  const complete = webUrl(da.verification_uri_complete);
  if (complete) info.verification_uri_complete = complete;
  return info;
}

/** An http(s) URL as the URL parser writes it (control characters and spaces percent-encoded), else undefined. */
export function webUrl(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}
