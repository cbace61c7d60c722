// Which URLs may use plain http: loopback only. Shared: the config's URL rule (daemon) and the
// provider presets' --url/--issuer checks (client and daemon).

/** Loopback hosts (127.0.0.0/8, ::1, localhost): the only ones where plain http is allowed. */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  if (host === 'localhost') return true;
  if (host === '[::1]' || host === '::1') return true;
  // The URL parser normalises IPv4 (127.1, 0x7f.1, …) to dotted decimal.
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
