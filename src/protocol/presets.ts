// Provider presets for `authd profile add NAME --provider P`: what each provider's own documentation
// says a client like authd must be told, one entry per provider, each value with the page it comes
// from. Shared: the CLI checks the options (and prints the help) from this table before it contacts
// the daemon; the daemon checks them again and writes the section (daemon/config/editor.ts).
//
// Values may name the options in braces ({clientId}, {url}, …). A setting or step that names an
// option which was not given (and has no default) is left out.
import { closest } from './closest.js';
import { AuthdError } from './errors.js';
import { isLoopbackUrl } from './loopback.js';
import type { PresetOptions } from './types.js';

export type PresetOption = keyof PresetOptions;

/** A line of the section: comment lines (what it is, then the page that says so), then `key = value`. */
export interface SectionLine {
  comment: string[];
  key?: string;
  value?: string | string[] | boolean;
}

interface SettingSpec {
  key: string;
  value: string | readonly string[] | boolean;
  /** What the line is, in a sentence. */
  why?: string;
  /** The provider's page that says so. */
  doc?: string;
}

interface OptionSpec {
  required?: boolean;
  /** Used when the option is not given; may name other options. */
  default?: string | readonly string[];
  /** What the value is, for this provider (help and the message when it is missing). */
  about: string;
}

export interface Preset {
  readonly name: string;
  readonly title: string;
  /** Comment lines at the top of the section: what the provider does with tokens. */
  readonly about: readonly { text: string; doc: string }[];
  readonly options: Readonly<Partial<Record<PresetOption, OptionSpec>>>;
  readonly settings: readonly SettingSpec[];
  /** What to register or switch on at the provider, printed after the section is written. */
  readonly register: readonly string[];
}

/** Every option: its flag, and the placeholder the help shows. */
export const PRESET_FLAGS: Readonly<Record<PresetOption, { flag: string; value: string }>> = {
  clientId: { flag: 'client-id', value: 'ID' },
  tenant: { flag: 'tenant', value: 'TENANT_ID' },
  url: { flag: 'url', value: 'URL' },
  realm: { flag: 'realm', value: 'REALM' },
  issuer: { flag: 'issuer', value: 'URL' },
  audience: { flag: 'audience', value: 'AUDIENCE' },
  clientSecretPublic: { flag: 'client-secret-public', value: 'VALUE' },
  gitHosts: { flag: 'git-host', value: 'HOST' },
};

const GIT_HOSTS: OptionSpec = { about: 'hosts git asks this profile for (repeatable)' };
const REDIRECT = 'http://127.0.0.1/callback';

// Documentation pages, each cited where its fact is used.
const GITHUB_USER_TOKEN = 'https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app';
const GITHUB_REFRESH = 'https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens';
const GITHUB_OAUTH_APPS = 'https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps';
const GITHUB_GIT = 'https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation';
const GITLAB_OAUTH = 'https://docs.gitlab.com/api/oauth2/';
const GITLAB_PROVIDER = 'https://docs.gitlab.com/integration/oauth_provider/';
const GITLAB_OIDC = 'https://docs.gitlab.com/integration/openid_connect_provider/';
const ENTRA_OIDC = 'https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc';
const ENTRA_DEVICE = 'https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code';
const ENTRA_REFRESH = 'https://learn.microsoft.com/entra/identity-platform/refresh-tokens';
const ENTRA_SCOPES = 'https://learn.microsoft.com/entra/identity-platform/scopes-oidc';
const ENTRA_REFRESH_REQUEST = 'https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token';
const ENTRA_REPLY_URL = 'https://learn.microsoft.com/entra/identity-platform/reply-url';
const GOOGLE_OAUTH = 'https://developers.google.com/identity/protocols/oauth2';
const GOOGLE_DISCOVERY = 'https://developers.google.com/identity/openid-connect/openid-connect#discovery';
const GOOGLE_NATIVE = 'https://developers.google.com/identity/protocols/oauth2/native-app';
const GOOGLE_DEVICE = 'https://developers.google.com/identity/protocols/oauth2/limited-input-device';
const OKTA_AUTH_SERVERS = 'https://developer.okta.com/docs/concepts/auth-servers/';
const OKTA_DEVICE = 'https://developer.okta.com/docs/guides/device-authorization-grant/main/';
const OKTA_REFRESH = 'https://developer.okta.com/docs/guides/refresh-tokens/main/';
const AUTH0_DISCOVERY = 'https://auth0.com/docs/get-started/applications/configure-applications-with-oidc-discovery';
const AUTH0_DEVICE = 'https://auth0.com/docs/get-started/authentication-and-authorization-flow/device-authorization-flow/call-your-api-using-the-device-authorization-flow';
const AUTH0_GRANTS = 'https://auth0.com/docs/get-started/applications/update-grant-types';
const AUTH0_GET_REFRESH = 'https://auth0.com/docs/secure/tokens/refresh-tokens/get-refresh-tokens';
const AUTH0_ROTATION = 'https://auth0.com/docs/secure/tokens/refresh-tokens/refresh-token-rotation';
const AUTH0_CALLBACKS = 'https://auth0.com/docs/get-started/applications/application-settings';
const KEYCLOAK_ENDPOINTS = 'https://www.keycloak.org/securing-apps/oidc-layers';
const KEYCLOAK_CLIENTS = 'https://www.keycloak.org/docs/latest/server_admin/#_oidc_clients';
const KEYCLOAK_OFFLINE = 'https://www.keycloak.org/docs/latest/server_admin/#_offline-access';
const OIDC_DISCOVERY = 'https://openid.net/specs/openid-connect-discovery-1_0.html';
const OIDC_OFFLINE = 'https://openid.net/specs/openid-connect-core-1_0.html#OfflineAccess';
const RFC8252_LOOPBACK = 'https://www.rfc-editor.org/rfc/rfc8252#section-7.3';

export const PRESETS: readonly Preset[] = [
  {
    name: 'github',
    title: 'GitHub',
    about: [
      { text: 'GitHub App: user tokens expire after 8 h; each refresh returns a new refresh token and the old one stops working; refresh tokens last 6 months.', doc: GITHUB_REFRESH },
    ],
    options: {
      clientId: { required: true, about: "the GitHub App's (or OAuth App's) Client ID, not its App ID" },
      gitHosts: { ...GIT_HOSTS, default: ['github.com'] },
    },
    settings: [
      { key: 'device_authorization_endpoint', value: 'https://github.com/login/device/code', why: 'GitHub publishes no OpenID discovery document: its endpoints are given one by one.', doc: GITHUB_USER_TOKEN },
      { key: 'token_endpoint', value: 'https://github.com/login/oauth/access_token', why: 'Device login, browser login and refresh all get their tokens here.', doc: GITHUB_REFRESH },
      { key: 'authorization_endpoint', value: 'https://github.com/login/oauth/authorize', why: 'Browser login (the web application flow) starts here.', doc: GITHUB_USER_TOKEN },
      { key: 'client_id', value: '{clientId}', why: "The app's Client ID, from its settings page (not its App ID).", doc: GITHUB_USER_TOKEN },
      { key: 'scopes', value: [], why: "A GitHub App's user token carries the app's permissions, not scopes; for an OAuth App list scopes here, e.g. [\"repo\"].", doc: GITHUB_USER_TOKEN },
      { key: 'git_hosts', value: ['{gitHosts}'], why: 'git asks this profile for these hosts (after `authd git setup`).' },
      { key: 'git_username', value: 'x-access-token', why: 'git sends the token as the password under this user name, as GitHub shows for app tokens (and as gh does).', doc: GITHUB_GIT },
    ],
    register: [
      'Create a GitHub App (Settings → Developer settings → GitHub Apps → New GitHub App), or an OAuth App; give a GitHub App the repository permissions git needs (Contents: read and write).',
      `In the app's settings tick "Enable Device Flow": GitHub refuses device login otherwise (device_flow_disabled). ${GITHUB_OAUTH_APPS}`,
      `GitHub App: keep "User-to-server token expiration" opted in (the default), so tokens expire and refresh. ${GITHUB_REFRESH}`,
      `For browser login: add the callback URL ${REDIRECT}.`,
    ],
  },
  {
    name: 'gitlab',
    title: 'GitLab',
    about: [
      { text: 'Access tokens last 2 h; a refresh returns a new refresh token and ends the old token pair.', doc: GITLAB_OAUTH },
    ],
    options: {
      clientId: { required: true, about: "the application's Application ID" },
      url: { default: 'https://gitlab.com', about: 'your GitLab, for self-managed (default https://gitlab.com)' },
      gitHosts: { ...GIT_HOSTS, default: ['{host}'] },
    },
    settings: [
      { key: 'issuer', value: '{url}', why: 'OpenID discovery at {url}/.well-known/openid-configuration.', doc: GITLAB_OIDC },
      { key: 'client_id', value: '{clientId}', why: 'The Application ID of the application registered for authd.', doc: GITLAB_PROVIDER },
      { key: 'scopes', value: ['openid', 'read_repository', 'write_repository'], why: 'openid: who logged in; read/write_repository: git over HTTPS (add api or read_api for the REST API). GitLab issues refresh tokens without offline_access.', doc: GITLAB_PROVIDER },
      { key: 'git_hosts', value: ['{gitHosts}'], why: 'git asks this profile for these hosts (after `authd git setup`).' },
      { key: 'git_username', value: 'oauth2', why: 'GitLab takes any user name with the token as password, and recommends oauth2.', doc: GITLAB_OAUTH },
    ],
    register: [
      `At {url}: User settings → Applications → Add new application: untick "Confidential"; scopes openid, read_repository, write_repository; redirect URI ${REDIRECT}. ${GITLAB_PROVIDER}`,
      `Device login needs GitLab 17.9 or later (17.3 with the oauth2_device_grant_flow flag). ${GITLAB_OAUTH}`,
    ],
  },
  {
    name: 'entra',
    title: 'Microsoft Entra ID',
    about: [
      { text: 'Each refresh returns a new refresh token; Entra does not revoke the old one. Access tokens live 60 to 90 minutes.', doc: ENTRA_REFRESH },
    ],
    options: {
      clientId: { required: true, about: 'the Application (client) ID of the app registration' },
      tenant: { required: true, about: 'the Directory (tenant) ID, a GUID (Entra admin center → Overview)' },
      audience: { default: 'https://graph.microsoft.com', about: 'the resource whose .default scope is asked for (default https://graph.microsoft.com)' },
      gitHosts: GIT_HOSTS,
    },
    settings: [
      { key: 'issuer', value: 'https://login.microsoftonline.com/{tenant}/v2.0', why: 'The v2.0 endpoints of your tenant, by OpenID discovery.', doc: ENTRA_OIDC },
      { key: 'client_id', value: '{clientId}', why: 'The Application (client) ID of the app registration.', doc: ENTRA_DEVICE },
      { key: 'scopes', value: ['openid', 'offline_access', '{audience}/.default'], why: 'offline_access: Entra issues refresh tokens only when asked. {audience}/.default: the permissions the app has on that resource (one resource per token; .default cannot be mixed with named scopes).', doc: ENTRA_SCOPES },
      { key: 'refresh_with_scopes', value: true, why: "Each refresh sends these scopes again, as Entra's refresh request does: they must be the ones asked for at login, or fewer, and name the resource the new token is for.", doc: ENTRA_REFRESH_REQUEST },
      { key: 'git_hosts', value: ['{gitHosts}'], why: 'git asks this profile for these hosts (after `authd git setup`).' },
    ],
    register: [
      `In the app registration: Authentication → "Allow public client flows": Yes (device login needs it). ${ENTRA_DEVICE}`,
      `For browser login: platform "Mobile and desktop applications" with redirect URI ${REDIRECT}; the portal takes only http://localhost, so set 127.0.0.1 in the manifest (replyUrlsWithType). ${ENTRA_REPLY_URL}`,
      'API permissions: grant the app what the token needs on {audience}.',
    ],
  },
  {
    name: 'google',
    title: 'Google',
    about: [
      { text: 'Google does not rotate refresh tokens; one unused for 6 months expires, and one issued while the consent screen is in Testing expires after 7 days.', doc: `${GOOGLE_OAUTH}#expiration` },
    ],
    options: {
      clientId: { required: true, about: 'the client ID of an OAuth client of type Desktop app (browser login) or TVs and Limited Input devices (device login)' },
      clientSecretPublic: { required: true, about: 'the "client secret" Google gives that installed-app client, which Google says is not treated as a secret' },
      gitHosts: GIT_HOSTS,
    },
    settings: [
      { key: 'issuer', value: 'https://accounts.google.com', why: 'OpenID discovery.', doc: GOOGLE_DISCOVERY },
      { key: 'client_id', value: '{clientId}', why: 'A Desktop app client (browser login) or a TVs and Limited Input devices client (device login).', doc: GOOGLE_NATIVE },
      { key: 'client_secret_public', value: '{clientSecretPublic}', why: 'Google gives installed apps a "client secret" that it says is not treated as a secret, and wants it with each token request; authd sends it. Never put a real secret here.', doc: `${GOOGLE_OAUTH}#installed` },
      { key: 'scopes', value: ['openid', 'email'], why: 'Add the API scopes you need, e.g. https://www.googleapis.com/auth/drive.file (device login allows only some). offline_access is not a Google scope.', doc: `${GOOGLE_DEVICE}#allowedscopes` },
      { key: 'git_hosts', value: ['{gitHosts}'], why: 'git asks this profile for these hosts (after `authd git setup`).' },
    ],
    register: [
      `Google Cloud console → APIs & Services → Credentials → Create OAuth client ID: "TVs and Limited Input devices" for device login, or "Desktop app" for browser login (loopback redirects need no registration). ${GOOGLE_DEVICE}`,
      'Enable the APIs the token is for, and publish the OAuth consent screen: in Testing, refresh tokens expire after 7 days.',
    ],
  },
  {
    name: 'okta',
    title: 'Okta',
    about: [
      { text: 'Native apps keep one refresh token unless "Rotate token after every use" is on; with it, reusing an old token after the 30 s grace period revokes the newest token and the access tokens.', doc: OKTA_REFRESH },
    ],
    options: {
      clientId: { required: true, about: 'the Client ID of a Native app integration' },
      url: { required: true, about: 'your Okta org (https://ORG.okta.com) or a custom authorization server (https://ORG.okta.com/oauth2/default)' },
      gitHosts: GIT_HOSTS,
    },
    settings: [
      { key: 'issuer', value: '{url}', why: "Your Okta org's authorization server (tokens for Okta's own APIs) or a custom one (tokens for your APIs), by OpenID discovery.", doc: OKTA_AUTH_SERVERS },
      { key: 'client_id', value: '{clientId}', why: 'The Client ID of a Native app integration.', doc: OKTA_DEVICE },
      { key: 'scopes', value: ['openid', 'offline_access'], why: 'offline_access asks for a refresh token (the app needs the Refresh Token grant).', doc: OKTA_REFRESH },
      { key: 'git_hosts', value: ['{gitHosts}'], why: 'git asks this profile for these hosts (after `authd git setup`).' },
    ],
    register: [
      `Applications → Create App Integration: OIDC, Native Application; grant types Device Authorization and Refresh Token; Client authentication: None (PKCE). ${OKTA_DEVICE}`,
      'On a custom authorization server, allow the Device Authorization grant in its access policy rule.',
      `For browser login: add the sign-in redirect URI ${REDIRECT}. Okta matches redirect URIs exactly and documents no loopback port exception: if it refuses the login, register the URI with the port browser login uses.`,
    ],
  },
  {
    name: 'auth0',
    title: 'Auth0',
    about: [
      { text: 'Refresh token rotation is opt-in per application; with it, reusing an old refresh token revokes its whole family. A rotating token lasts 30 days by default, and rotation does not extend it.', doc: AUTH0_ROTATION },
    ],
    options: {
      clientId: { required: true, about: 'the Client ID of a Native application' },
      url: { required: true, about: 'your tenant domain, e.g. https://acme.eu.auth0.com (or your custom domain)' },
      audience: { about: "your API's Identifier; without it Auth0 issues a token only for its /userinfo" },
      gitHosts: GIT_HOSTS,
    },
    settings: [
      { key: 'issuer', value: '{url}/', why: "Your tenant, by OpenID discovery (Auth0's issuer ends with a slash).", doc: AUTH0_DISCOVERY },
      { key: 'client_id', value: '{clientId}', why: 'The Client ID of a Native application (the device flow is for native apps only).', doc: AUTH0_GRANTS },
      { key: 'audience', value: '{audience}', why: 'The API Identifier: without an audience Auth0 issues a token only for /userinfo.', doc: AUTH0_DEVICE },
      { key: 'scopes', value: ['openid', 'offline_access'], why: 'offline_access asks for a refresh token (the API needs "Allow Offline Access").', doc: AUTH0_GET_REFRESH },
      { key: 'git_hosts', value: ['{gitHosts}'], why: 'git asks this profile for these hosts (after `authd git setup`).' },
    ],
    register: [
      `Applications → Create Application: Native; Advanced Settings → Grant Types: Device Code and Refresh Token. ${AUTH0_GRANTS}`,
      `Applications → APIs → your API: turn on "Allow Offline Access"; pass its Identifier as --audience (or set audience later). ${AUTH0_GET_REFRESH}`,
      `Turn on Refresh Token Rotation: authd refreshes once per profile, so reuse detection only stops stolen tokens. ${AUTH0_ROTATION}`,
      `For browser login: Allowed Callback URLs: ${REDIRECT}. Auth0 documents no loopback port exception (if it refuses the login, register the URI with the port browser login uses), and asks the user to confirm each loopback login. ${AUTH0_CALLBACKS}`,
    ],
  },
  {
    name: 'keycloak',
    title: 'Keycloak',
    about: [
      { text: 'Refresh tokens are reused unless the realm turns on "Revoke Refresh Token"; offline_access gives an offline token that outlives the SSO session and must be used every 30 days.', doc: KEYCLOAK_OFFLINE },
    ],
    options: {
      clientId: { required: true, about: 'the Client ID of a public client' },
      url: { required: true, about: 'your Keycloak server (before Keycloak 17 include /auth)' },
      realm: { required: true, about: 'the realm name' },
      gitHosts: GIT_HOSTS,
    },
    settings: [
      { key: 'issuer', value: '{url}/realms/{realm}', why: 'Realm {realm}, by OpenID discovery.', doc: KEYCLOAK_ENDPOINTS },
      { key: 'client_id', value: '{clientId}', why: 'A public client (Client authentication off).', doc: KEYCLOAK_CLIENTS },
      { key: 'scopes', value: ['openid', 'offline_access'], why: 'offline_access: an offline token, which survives the end of the SSO session (needs the offline_access role, a default one).', doc: KEYCLOAK_OFFLINE },
      { key: 'git_hosts', value: ['{gitHosts}'], why: 'git asks this profile for these hosts (after `authd git setup`).' },
    ],
    register: [
      `Realm {realm} → Clients → Create client (OpenID Connect): Client authentication off; turn on "OAuth 2.0 Device Authorization Grant" (and Standard flow for browser login). ${KEYCLOAK_CLIENTS}`,
      `For browser login: Valid redirect URIs: ${REDIRECT}, without a port (Keycloak then takes any port on 127.0.0.1).`,
    ],
  },
  {
    name: 'generic',
    title: 'OpenID provider',
    about: [],
    options: {
      clientId: { required: true, about: 'the client id registered for authd' },
      issuer: { required: true, about: "the provider's issuer, exactly as its discovery document writes it" },
      audience: { about: 'sent as the audience parameter, for providers that take one' },
      gitHosts: GIT_HOSTS,
    },
    settings: [
      { key: 'issuer', value: '{issuer}', why: 'OpenID discovery at {issuer}/.well-known/openid-configuration; kept exactly as the provider writes it.', doc: OIDC_DISCOVERY },
      { key: 'client_id', value: '{clientId}', why: 'A public client (no secret) with the device authorization grant and refresh tokens.' },
      { key: 'audience', value: '{audience}', why: 'Sent as the audience parameter with each token request.' },
      { key: 'scopes', value: ['openid', 'offline_access'], why: 'offline_access asks for a refresh token.', doc: OIDC_OFFLINE },
      { key: 'git_hosts', value: ['{gitHosts}'], why: 'git asks this profile for these hosts (after `authd git setup`).' },
    ],
    register: [
      'Register a public client (no secret) allowed the device authorization grant (RFC 8628) and refresh tokens.',
      `For browser login: the redirect URI ${REDIRECT} (RFC 8252 lets the port vary). ${RFC8252_LOOPBACK}`,
    ],
  },
];

export const PRESET_NAMES = PRESETS.map((p) => p.name);

/** The preset named `name`, or a usage error with a guess. */
export function findPreset(name: string): Preset {
  const found = PRESETS.find((p) => p.name === name);
  if (found) return found;
  const guess = closest(name, PRESET_NAMES);
  throw usage(`unknown provider preset "${shown(name)}"${guess ? ` (did you mean ${guess}?)` : ''}`,
    `presets: ${PRESET_NAMES.join(', ')}; see \`authd profile --help\``);
}

/** What `authd profile add` writes and prints, once every option is checked. */
export interface ResolvedPreset {
  preset: Preset;
  lines: SectionLine[];
  register: string[];
}

/**
 * Checks the options against the preset (refusing a missing required one, and one it does not
 * take) and fills in the section. Throws a usage error naming the flag.
 */
export function resolvePreset(provider: string, given: PresetOptions, profile: string): ResolvedPreset {
  const preset = findPreset(provider);
  const vars: Record<string, string | string[]> = {};
  for (const [option, value] of Object.entries(given) as [PresetOption, string | string[] | undefined][]) {
    if (value === undefined) continue;
    if (!preset.options[option] && option === 'clientSecretPublic') {
      throw usage(`--client-secret-public is only for google, not the ${preset.name} preset`,
        `Google documents the "client secret" of its installed-app clients as not secret (${GOOGLE_OAUTH}#installed); `
          + "another provider's client secret is a real one, and a config file holds no secrets");
    }
    if (!preset.options[option]) {
      throw usage(`--${PRESET_FLAGS[option].flag} is not an option of the ${preset.name} preset`,
        `${preset.name} takes ${flagList(preset)}; see \`authd profile --help\``);
    }
    vars[option] = check(option, value, preset);
  }
  for (const [option, spec] of Object.entries(preset.options) as [PresetOption, OptionSpec][]) {
    if (vars[option] !== undefined || !spec.required) continue;
    const f = PRESET_FLAGS[option];
    throw usage(`the ${preset.name} preset needs --${f.flag} ${f.value}: ${spec.about}`, `see \`authd profile --help\``);
  }
  // Defaults, then what they name: --url's default first, then git hosts from its host.
  if (vars.url === undefined && typeof preset.options.url?.default === 'string') vars.url = check('url', preset.options.url.default, preset);
  if (typeof vars.url === 'string') vars.host = new URL(vars.url).host;
  for (const [option, spec] of Object.entries(preset.options) as [PresetOption, OptionSpec][]) {
    if (vars[option] !== undefined || spec.default === undefined) continue;
    const value = fill(spec.default, vars);
    if (value !== undefined) vars[option] = value;
  }

  const lines: SectionLine[] = [
    { comment: [`${preset.title}: written by \`authd profile add ${profile} --provider ${preset.name}\`; \`authd profile remove ${profile}\` removes it.`] },
    ...preset.about.map((a) => ({ comment: [a.text, a.doc] })),
  ];
  for (const s of preset.settings) {
    const value = typeof s.value === 'boolean' ? s.value : fill(s.value, vars);
    if (value === undefined) continue;
    const comment: string[] = [];
    if (s.why) comment.push(fill(s.why, vars) ?? s.why);
    if (s.doc) comment.push(s.doc);
    lines.push({ comment, key: s.key, value });
  }
  const register = preset.register.map((r) => fill(r, vars)).filter((r): r is string => r !== undefined);
  return { preset, lines, register };
}

/** A preset's flags as the help and its messages write them. */
export function flagList(preset: Preset): string {
  return (Object.entries(preset.options) as [PresetOption, OptionSpec][])
    .map(([option, spec]) => {
      const f = PRESET_FLAGS[option];
      const flag = `--${f.flag} ${f.value}${option === 'gitHosts' ? '…' : ''}`;
      return spec.required ? flag : `[${flag}]`;
    })
    .join(' ');
}

/** `template` with each {option} filled in; undefined when it names one that has no value. */
function fill(template: string, vars: Record<string, string | string[]>): string | undefined;
function fill(template: string | readonly string[], vars: Record<string, string | string[]>): string | string[] | undefined;
function fill(template: string | readonly string[], vars: Record<string, string | string[]>): string | string[] | undefined {
  if (typeof template !== 'string') {
    const out: string[] = [];
    for (const item of template) {
      const whole = /^\{(\w+)\}$/.exec(item);
      const v = whole ? vars[whole[1]!] : fill(item, vars);
      if (v === undefined) return undefined;
      if (Array.isArray(v)) out.push(...v);
      else out.push(v);
    }
    return out;
  }
  let missing = false;
  const out = template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = vars[name];
    if (typeof v !== 'string') missing = true;
    return typeof v === 'string' ? v : '';
  });
  return missing ? undefined : out;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A value on the command line that goes into a TOML string and a comment: printable, one word. */
const WORD = /^[\x21-\x7e]{1,512}$/;

function check(option: PresetOption, value: string | string[], preset: Preset): string | string[] {
  const flag = `--${PRESET_FLAGS[option].flag}`;
  if (option === 'gitHosts') {
    const hosts = Array.isArray(value) ? value : [value];
    for (const h of hosts) {
      if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(h)) throw usage(`${flag} ${shown(h)} is not a host name (HOST or HOST:PORT)`, 'git asks for hosts such as github.com or git.acme.com:8443');
    }
    return hosts.map((h) => h.toLowerCase());
  }
  if (typeof value !== 'string') throw usage(`${flag} is given more than once`, 'give it once');
  if (!WORD.test(value)) throw usage(`${flag} must be printable text without spaces (got ${shown(value)})`, 'see `authd profile --help`');
  switch (option) {
    case 'tenant':
      if (!GUID.test(value)) {
        throw usage(`--tenant must be the tenant ID, a GUID (got ${shown(value)})`,
          'find it in the Entra admin center → Overview → Tenant ID. authd checks the issuer exactly, and the discovery documents of '
          + 'common, organizations, consumers and domain names name another issuer (a {tenantid} placeholder, or the tenant\'s GUID); '
          + `for personal Microsoft accounts use 9188040d-6c67-4c5b-b112-36a304b66dad (${ENTRA_OIDC})`);
      }
      return value.toLowerCase();
    case 'realm':
      if (!/^[A-Za-z0-9._~-]+$/.test(value)) {
        throw usage(`--realm ${shown(value)} has characters authd does not put in a URL path`,
          'give the realm name, or write the issuer yourself: --provider generic --issuer URL/realms/REALM');
      }
      return value;
    case 'url':
      return baseUrl(value, preset);
    case 'issuer':
      webUrl(value, flag);
      return value;
    default:
      return value;
  }
}

/** --url: https://host[/path], without a trailing slash; a bare host name means https. */
function baseUrl(value: string, preset: Preset): string {
  const url = webUrl(value.includes('://') ? value : `https://${value}`, '--url');
  if (preset.name === 'auth0' && url.pathname !== '/') {
    throw usage(`--url for auth0 is the tenant's domain, without a path (got ${shown(value)})`, 'e.g. --url https://acme.eu.auth0.com');
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** An absolute http(s) URL (http on loopback only), with no user name, query or fragment. */
function webUrl(value: string, flag: string): URL {
  if (!URL.canParse(value)) throw usage(`${flag} must be an absolute URL such as https://login.example.com (got ${shown(value)})`, 'see `authd profile --help`');
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw usage(`${flag} must be an https:// URL (got ${url.protocol})`, 'see `authd profile --help`');
  if (url.protocol === 'http:' && !isLoopbackUrl(url)) {
    throw usage(`${flag} must use https unless the host is loopback (got ${url.origin})`, 'http is for a provider on this machine (127.0.0.1, localhost)');
  }
  // Not echoed: the user:password part would be a secret.
  if (url.username || url.password) throw usage(`${flag} must not contain a user name or password`, 'remove the user:password@ part');
  if (url.search || url.hash) throw usage(`${flag} must not contain a query or fragment (got ${url.origin}${url.pathname}…)`, 'give the address as the provider publishes it');
  return url;
}

function usage(message: string, hint: string): AuthdError {
  return new AuthdError('usage', message, hint);
}

function shown(s: string): string {
  const printable = s.replace(/[\x00-\x1f\x7f]/g, '?');
  return printable.length > 60 ? `${printable.slice(0, 57)}…` : printable;
}
