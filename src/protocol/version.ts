// The version of this authd: set by the build (scripts/build.mjs) from package.json.
declare const AUTHD_VERSION: string;
export const VERSION = typeof AUTHD_VERSION === 'string' ? AUTHD_VERSION : '0.0.0-dev';
