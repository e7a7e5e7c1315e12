// A user's browser for the single sign-on tests, as little of one as they need: it follows
// redirects, keeps each host's cookies, fills in and submits the identity provider's sign-in
// and consent forms, and clicks Synapse's "Continue" link. It stops at the first page that has
// none of those (mx's "Signed in" page, or an error page) and returns it.

export interface BrowsedPage {
  url: string;
  status: number;
  text: string;
}

/** Opens `url` and signs in as `login` wherever a page asks. */
export async function signInWithBrowser(url: string, login: string): Promise<BrowsedPage> {
  const cookies = new Map<string, Map<string, string>>();
  const visit = async (target: string, init: RequestInit = {}) => {
    const { host } = new URL(target);
    const jar = cookies.get(host) ?? new Map<string, string>();
    cookies.set(host, jar);
    const cookie = [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const res = await fetch(target, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
    for (const set of res.headers.getSetCookie()) {
      const [pair = ''] = set.split(';');
      const at = pair.indexOf('=');
      jar.set(pair.slice(0, at).trim(), pair.slice(at + 1));
    }
    return res;
  };

  let current = url;
  let init: RequestInit = {};
  for (let step = 0; step < 25; step++) {
    const res = await visit(current, init);
    init = {};
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      current = new URL(location, current).href;
      continue;
    }
    const text = await res.text();
    const form = /<form[^>]*>[\s\S]*?<\/form>/.exec(text)?.[0];
    if (form) {
      const fields = new URLSearchParams();
      for (const [input] of form.matchAll(/<input[^>]*>/g)) {
        const name = attribute(input, 'name');
        if (name) fields.set(name, name === 'login' ? login : name === 'password' ? 'any password' : (attribute(input, 'value') ?? ''));
      }
      current = new URL(attribute(form, 'action') ?? current, current).href;
      init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields.toString() };
      continue;
    }
    const next = /<a href="([^"]+)"[^>]*>\s*Continue\s*<\/a>/.exec(text)?.[1];
    if (next) {
      current = new URL(decodeEntities(next), current).href;
      continue;
    }
    return { url: current, status: res.status, text };
  }
  throw new Error(`the sign-in did not end within 25 pages (last: ${current})`);
}

function attribute(tag: string, name: string): string | undefined {
  const value = new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
  return value === undefined ? undefined : decodeEntities(value);
}

function decodeEntities(text: string): string {
  return text.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}
