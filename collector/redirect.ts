// Pure: where a `/r/tp2?u=…` click redirect may go. Off unless enabled; then only http(s) targets
// whose host is in the allow-list (an empty list refuses every target: no open redirect). With
// the redirect macro on, its placeholder in the target is replaced by the network user id.

export interface RedirectRules {
  allowedHosts: Set<string>;
  /** The placeholder to replace with the nuid, when the macro is enabled. */
  macro?: string;
}

export type RedirectTarget = { ok: true; location: string } | { ok: false; reason: string };

export function redirectTarget(u: unknown, rules: RedirectRules, nuid: string): RedirectTarget {
  if (typeof u !== 'string' || u === '') return { ok: false, reason: 'missing redirect target: the u parameter' };
  const target = rules.macro ? u.split(rules.macro).join(nuid) : u;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return { ok: false, reason: 'redirect target is not an absolute URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: 'redirect target must be http or https' };
  if (!rules.allowedHosts.has(url.hostname.toLowerCase())) return { ok: false, reason: `redirect target host ${url.hostname} is not allowed` };
  return { ok: true, location: url.href };
}
