// The passkey methods of the built client (dist/) against a live pet_auth server at PET_AUTH_URL, with a fake
// `navigator.credentials` standing in for the browser: what can be told without a real authenticator (the options
// reach the browser, the browser's refusals and the server's answers become AuthErrors of the ceremony, the flow
// cookie travels). Making and using real passkeys is tests/test_browser_passkeys.py's, in Chromium.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { beforeEach, test } from "node:test";

import { createAuthClient, isAuthError } from "../dist/index.js";
import { cookieFetch } from "./cookie-fetch.mjs";

const baseUrl = process.env.PET_AUTH_URL;
assert.ok(baseUrl, "set PET_AUTH_URL to a running pet_auth server");

const device = () => createAuthClient({ baseUrl, fetch: cookieFetch() });
const uniqueEmail = (prefix) => `${prefix}-${randomBytes(5).toString("hex")}@example.com`;
const PASSWORD = "correct horse battery staple";
const SPA_ORIGIN = "http://localhost:5173"; // FRONTEND_URL of the test server: the RP ID is localhost

// The browser, as far as @simplewebauthn/browser looks at it: WebAuthn (and conditional mediation) is there, the page
// has an <input autocomplete="username webauthn">, and navigator.credentials answers with `browser.answer`.
const browser = { requests: [], answer: async () => assert.fail("no answer set") };
globalThis.PublicKeyCredential = class PublicKeyCredential {
  static isConditionalMediationAvailable = async () => true;
};
Object.defineProperty(globalThis, "navigator", {
  configurable: true,
  writable: true,
  value: {
    credentials: {
      create: (options) => (browser.requests.push(options), browser.answer(options)),
      get: (options) => (browser.requests.push(options), browser.answer(options)),
    },
  },
});
globalThis.document = { querySelectorAll: () => [{ autocomplete: "username webauthn" }] };

beforeEach(() => {
  browser.requests = [];
  browser.answer = async () => assert.fail("no answer set");
});

const notAllowed = async () => {
  throw new DOMException("The operation either timed out or was not allowed.", "NotAllowedError");
};
/** Waits until its request is aborted, as a pending conditional (autofill) request does. */
const pendingUntilAborted = ({ signal }) =>
  new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason)));

async function authError(operation, call) {
  try {
    await call();
  } catch (error) {
    assert.ok(isAuthError(error, operation), `expected an AuthError of ${operation}, got ${error}`);
    return error;
  }
  assert.fail(`${operation} did not throw`);
}

const bytes = (text) => new TextEncoder().encode(text).buffer;
const base64url = (buffer) => Buffer.from(buffer).toString("base64url");

test("a dismissed passkey dialog is passkey_cancelled (status 0) after the server's options reached the browser", async () => {
  browser.answer = notAllowed;
  const error = await authError("passkeySignIn", () => device().loginWithPasskey());
  assert.equal(error.code, "passkey_cancelled");
  assert.equal(error.status, 0);
  assert.equal(error.retryAfter, null);

  const [request] = browser.requests;
  assert.equal(request.mediation, undefined); // the button: a modal dialog
  assert.equal(request.publicKey.rpId, "localhost");
  assert.equal(request.publicKey.userVerification, "required");
  assert.ok(request.publicKey.challenge instanceof ArrayBuffer && request.publicKey.challenge.byteLength >= 16);
  assert.equal(request.publicKey.allowCredentials, undefined); // any discoverable passkey may answer
});

test("the button aborts a pending autofill request: passkey_cancelled for the autofill", async () => {
  const auth = device();
  browser.answer = pendingUntilAborted;
  const autofill = auth.loginWithPasskey({ autofill: true });
  await new Promise((resolve) => setTimeout(resolve, 200)); // the options came, the conditional request waits
  assert.equal(browser.requests.length, 1);
  assert.equal(browser.requests[0].mediation, "conditional");

  browser.answer = notAllowed;
  const [autofilled, button] = await Promise.allSettled([autofill, auth.loginWithPasskey()]);
  for (const outcome of [autofilled, button]) {
    assert.equal(outcome.status, "rejected");
    assert.ok(isAuthError(outcome.reason, "passkeySignIn"), String(outcome.reason));
    assert.equal(outcome.reason.code, "passkey_cancelled");
  }
  assert.equal(browser.requests[0].signal.aborted, true);
});

test("an answer of a passkey the service does not know is passkey_not_recognized", async () => {
  browser.answer = async ({ publicKey }) => {
    const clientData = { type: "webauthn.get", challenge: base64url(publicKey.challenge), origin: SPA_ORIGIN };
    const id = randomBytes(16);
    return {
      id: base64url(id),
      rawId: id.buffer.slice(id.byteOffset, id.byteOffset + id.byteLength),
      type: "public-key",
      authenticatorAttachment: "platform",
      response: {
        clientDataJSON: bytes(JSON.stringify(clientData)),
        authenticatorData: new Uint8Array(37).buffer,
        signature: new Uint8Array(64).buffer,
        userHandle: randomBytes(64).buffer,
      },
      getClientExtensionResults: () => ({}),
    };
  };
  const error = await authError("passkeySignIn", () => device().loginWithPasskey());
  assert.equal(error.status, 401);
  assert.equal(error.code, "passkey_not_recognized");
});

test("the options step's errors are the ceremony's: registering needs a verified address", async () => {
  const auth = device();
  await auth.register({ email: uniqueEmail("unverified"), password: PASSWORD });
  const error = await authError("registerPasskey", () => auth.registerPasskey("Laptop"));
  assert.equal(error.status, 403);
  assert.equal(error.code, "email_not_verified");
  assert.deepEqual(browser.requests, []); // the browser was never asked

  const anonymous = await authError("registerPasskey", () => device().registerPasskey());
  assert.equal(anonymous.code, "not_authenticated");
});

test("reauthenticate: a password as before; a passkey when the account has none is not_found", async () => {
  const auth = device();
  await auth.register({ email: uniqueEmail("reauth"), password: PASSWORD });
  assert.equal(await auth.reauthenticate({ password: PASSWORD }), undefined);
  const wrong = await authError("reauthenticate", () => auth.reauthenticate({ password: "not the password" }));
  assert.equal(wrong.code, "invalid_credentials");

  const none = await authError("reauthenticateWithPasskey", () => auth.reauthenticate({ passkey: true }));
  assert.equal(none.status, 404);
  assert.equal(none.code, "not_found");
  assert.deepEqual(browser.requests, []);
});

test("listing, renaming and removing passkeys of an account without any", async () => {
  const auth = device();
  await auth.register({ email: uniqueEmail("none"), password: PASSWORD });
  assert.deepEqual(await auth.listPasskeys(), { passkeys: [] });
  assert.equal((await authError("renamePasskey", () => auth.renamePasskey(1, "Phone"))).code, "not_found");
  const blank = await authError("renamePasskey", () => auth.renamePasskey(1, " "));
  assert.equal(blank.code, "validation_error");
  assert.equal((await authError("deletePasskey", () => auth.deletePasskey(1))).code, "not_found");
  assert.equal((await authError("listPasskeys", () => device().listPasskeys())).code, "not_authenticated");
});
