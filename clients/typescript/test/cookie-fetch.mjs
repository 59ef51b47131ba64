// A fetch for Node that keeps cookies, as a browser does for the API's origin: the client's tests use one per
// simulated device. Enough for pet_auth's one cookie (no domains, paths or expiry dates beyond Max-Age=0).

/** @returns {(request: Request) => Promise<Response>} */
export function cookieFetch() {
  /** @type {Map<string, string>} */
  const jar = new Map();
  return async (request) => {
    const headers = new Headers(request.headers);
    if (jar.size > 0) {
      headers.set("Cookie", [...jar].map(([name, value]) => `${name}=${value}`).join("; "));
    }
    const response = await fetch(new Request(request, { headers }));
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";");
      const separator = pair.indexOf("=");
      const name = pair.slice(0, separator).trim();
      const value = pair.slice(separator + 1).trim();
      const expired = attributes.some((attribute) => /^\s*max-age\s*=\s*0\s*$/i.test(attribute));
      if (expired) {
        jar.delete(name);
      } else {
        jar.set(name, value);
      }
    }
    return response;
  };
}
