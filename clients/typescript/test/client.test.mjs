// The built client (dist/) against a live pet_auth server at PET_AUTH_URL (started by tests/test_typescript_client.py).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { AuthError, createAuthClient, isAuthError } from "../dist/index.js";
import { cookieFetch } from "./cookie-fetch.mjs";

const baseUrl = process.env.PET_AUTH_URL;
assert.ok(baseUrl, "set PET_AUTH_URL to a running pet_auth server");

/** A client with its own cookies, like one browser. */
const device = () => createAuthClient({ baseUrl, fetch: cookieFetch() });
const uniqueEmail = (prefix) => `${prefix}-${randomBytes(5).toString("hex")}@example.com`;
const PASSWORD = "correct horse battery staple";

/** Runs `call`, which must throw an AuthError of `operation`; returns it. */
async function authError(operation, call) {
  try {
    await call();
  } catch (error) {
    assert.ok(isAuthError(error, operation), `expected an AuthError of ${operation}, got ${error}`);
    assert.ok(error instanceof AuthError);
    return error;
  }
  assert.fail(`${operation} did not throw`);
}

test("sign up, who am I, sign out and in again", async () => {
  const auth = device();
  const email = uniqueEmail("journey");

  const { user } = await auth.register({ email, password: PASSWORD });
  assert.equal(user.email, email);
  assert.equal(typeof user.id, "number");
  assert.deepEqual((await auth.me()).user, user);

  assert.equal(await auth.logout(), undefined);
  const signedOut = await authError("me", () => auth.me());
  assert.equal(signedOut.status, 401);
  assert.equal(signedOut.code, "not_authenticated");
  assert.deepEqual(signedOut.errors, []);
  assert.equal(signedOut.retryAfter, null);

  assert.deepEqual((await auth.login({ email: email.toUpperCase(), password: PASSWORD })).user, user);
  assert.equal((await auth.me()).user.email, email);
});

test("a taken email and a short password are AuthErrors with their codes", async () => {
  const email = uniqueEmail("taken");
  await device().register({ email, password: PASSWORD });

  const taken = await authError("register", () => device().register({ email, password: PASSWORD }));
  assert.equal(taken.status, 409);
  assert.equal(taken.code, "email_taken");
  assert.equal(typeof taken.detail, "string");

  const short = await authError("register", () =>
    device().register({ email: uniqueEmail("short"), password: "short" }),
  );
  assert.equal(short.status, 400);
  assert.equal(short.code, "validation_error");
  assert.deepEqual(
    short.errors.map((error) => error.field),
    ["password"],
  );
});

test("wrong passwords are invalid_credentials, then rate_limited with retryAfter", async () => {
  const email = uniqueEmail("limited");
  await device().register({ email, password: PASSWORD });
  const auth = device();

  const wrong = await authError("login", () => auth.login({ email, password: "not the password" }));
  assert.equal(wrong.code, "invalid_credentials");
  let limited = wrong;
  for (let attempt = 0; attempt < 20 && limited.code !== "rate_limited"; attempt += 1) {
    limited = await authError("login", () => auth.login({ email, password: "not the password" }));
  }
  assert.equal(limited.code, "rate_limited");
  assert.equal(limited.status, 429);
  assert.ok(Number.isInteger(limited.retryAfter) && limited.retryAfter > 0, `retryAfter ${limited.retryAfter}`);
});

test("sessions: list them, end another device's, revoke the others", async () => {
  const email = uniqueEmail("sessions");
  const laptop = device();
  const phone = device();
  const tablet = device();
  await laptop.register({ email, password: PASSWORD });
  await phone.login({ email, password: PASSWORD });
  await tablet.login({ email, password: PASSWORD });

  const { sessions } = await laptop.listSessions();
  assert.equal(sessions.length, 3);
  assert.equal(sessions.filter((session) => session.current).length, 1);

  const phoneSession = (await phone.listSessions()).sessions.find((session) => session.current);
  assert.ok(phoneSession);
  assert.equal(await laptop.endSession(phoneSession.id), undefined);
  assert.equal((await authError("me", () => phone.me())).code, "not_authenticated");
  assert.equal((await authError("endSession", () => laptop.endSession(phoneSession.id))).code, "not_found");

  await laptop.revokeOtherSessions();
  assert.equal((await authError("me", () => tablet.me())).code, "not_authenticated");
  assert.deepEqual(
    (await laptop.listSessions()).sessions.map((session) => session.current),
    [true],
  );
});

test("change the password; forgot and reset answer with their own codes", async () => {
  const email = uniqueEmail("passwords");
  const auth = device();
  await auth.register({ email, password: PASSWORD });
  const newPassword = "another fine passphrase";

  const wrong = await authError("changePassword", () =>
    auth.changePassword({ currentPassword: "not the password", newPassword }),
  );
  assert.equal(wrong.code, "invalid_credentials");
  assert.equal(await auth.changePassword({ currentPassword: PASSWORD, newPassword }), undefined);
  assert.equal((await auth.me()).user.email, email);
  assert.equal((await device().login({ email, password: newPassword })).user.email, email);

  const { message } = await auth.forgotPassword({ email });
  assert.match(message, /reset/);
  const unknown = await authError("resetPassword", () =>
    device().resetPassword({ token: "A".repeat(43), password: newPassword }),
  );
  assert.equal(unknown.status, 400);
  assert.equal(unknown.code, "invalid_token");
});

test("the activity log: newest first, in pages, each user's own", async () => {
  const email = uniqueEmail("activity");
  const laptop = device();
  await laptop.register({ email, password: PASSWORD });
  for (let signIn = 0; signIn < 3; signIn += 1) {
    await device().login({ email, password: PASSWORD });
  }
  await authError("changePassword", () =>
    laptop.changePassword({ currentPassword: "not the password", newPassword: "another fine passphrase" }),
  );

  // Three sign-ins from new devices: a sign_in and a new_device each; the refused change wrote nothing.
  const { events, nextBefore } = await laptop.securityEvents();
  assert.deepEqual(
    events.map((event) => event.kind),
    ["new_device", "sign_in", "new_device", "sign_in", "new_device", "sign_in"],
  );
  assert.equal(nextBefore, null);
  assert.ok(events.every((event) => typeof event.occurredAt === "string" && typeof event.device === "string"));

  const pages = [];
  let page = await laptop.securityEvents({ limit: 4 });
  pages.push(page.events.length);
  while (page.nextBefore !== null) {
    page = await laptop.securityEvents({ limit: 4, before: page.nextBefore });
    pages.push(page.events.length);
  }
  assert.deepEqual(pages, [4, 2]);

  const other = device();
  await other.register({ email: uniqueEmail("other"), password: PASSWORD });
  assert.deepEqual((await other.securityEvents()).events, []);

  const bad = await authError("securityEvents", () => laptop.securityEvents({ limit: 0 }));
  assert.equal(bad.status, 400);
  assert.equal(bad.code, "validation_error");
  assert.deepEqual(
    bad.errors.map((error) => error.field),
    ["limit"],
  );
  const anonymous = await authError("securityEvents", () => device().securityEvents());
  assert.equal(anonymous.code, "not_authenticated");
});

test("login answers {user}: mfaRequired is absent, so `if (result.mfaRequired)` narrows", async () => {
  const email = uniqueEmail("union");
  await device().register({ email, password: PASSWORD });
  const result = await device().login({ email, password: PASSWORD });
  assert.equal(result.mfaRequired, undefined);
  assert.equal(result.user.email, email);
});

test("session() answers the user or null, never an error for being signed out", async () => {
  const auth = device();
  assert.equal(await auth.session(), null);
  const { user } = await auth.register({ email: uniqueEmail("session"), password: PASSWORD });
  assert.deepEqual(await auth.session(), user);
  await auth.logout();
  assert.equal(await auth.session(), null);
});

/** A client, and every value its onChange listener was called with. */
function followed() {
  const auth = device();
  const seen = [];
  const stop = auth.onChange((user) => seen.push(user === null ? null : user.email));
  return { auth, seen, stop };
}

test("onChange: sign-up, sign-out, sign-in, once per change; a revoked session is a 401 that signs out", async () => {
  const { auth, seen, stop } = followed();
  const email = uniqueEmail("follow");

  assert.equal(await auth.session(), null); // the first answer tells the state
  await auth.session(); // the same state: not told again
  assert.deepEqual(seen, [null]);
  await auth.register({ email, password: PASSWORD });
  await auth.me();
  await auth.session();
  assert.deepEqual(seen, [null, email]);
  await auth.logout();
  await auth.logout();
  assert.deepEqual(seen, [null, email, null]);
  await auth.login({ email, password: PASSWORD });
  await authError("login", () => auth.login({ email, password: "not the password" })); // a refusal changes nothing
  assert.deepEqual(seen, [null, email, null, email]);

  // Another device ends this session: the next call's 401 not_authenticated tells it.
  const phone = device();
  await phone.login({ email, password: PASSWORD });
  await phone.revokeOtherSessions();
  assert.equal((await authError("listSessions", () => auth.listSessions())).code, "not_authenticated");
  assert.deepEqual(seen, [null, email, null, email, null]);

  stop();
  await auth.login({ email, password: PASSWORD });
  assert.deepEqual(seen, [null, email, null, email, null]); // unsubscribed
});

test("onChange: ending the current session, and deleting the account, sign out", async () => {
  const { auth, seen } = followed();
  const email = uniqueEmail("ending");
  await auth.register({ email, password: PASSWORD });
  const current = (await auth.listSessions()).sessions.find((entry) => entry.current);
  assert.ok(current);
  await auth.endSession(current.id);
  assert.deepEqual(seen, [email, null]);

  await auth.login({ email, password: PASSWORD });
  await auth.deleteAccount({ currentPassword: PASSWORD });
  assert.deepEqual(seen, [email, null, email, null]);
});

test("a listener that throws breaks neither the call nor the other listeners", async () => {
  const auth = device();
  const seen = [];
  // The error is thrown again from a timer of its own (reported as uncaught, as an event listener's would be):
  // the timer is caught here, between the listeners (called in the order they subscribed).
  const deferred = [];
  const { setTimeout } = globalThis;
  auth.onChange(() => {
    globalThis.setTimeout = (callback) => deferred.push(callback);
  });
  auth.onChange(() => {
    throw new Error("listener failed");
  });
  auth.onChange((user) => {
    globalThis.setTimeout = setTimeout;
    seen.push(user);
  });
  assert.equal(await auth.session(), null);
  assert.deepEqual(seen, [null]);
  assert.equal(deferred.length, 1);
  assert.throws(deferred[0], /listener failed/);
});

test("a fetch that gets no answer is an AuthError network_error, not a TypeError", async () => {
  const auth = createAuthClient({ baseUrl: "http://127.0.0.1:1" }); // nothing listens on port 1
  const error = await authError("session", () => auth.session());
  assert.equal(error.code, "network_error");
  assert.equal(error.status, 0);
  assert.equal(error.retryAfter, null);
  assert.match(error.detail, /could not be reached/);
  assert.ok(error.cause instanceof TypeError, `cause: ${error.cause}`);

  const failing = createAuthClient({
    baseUrl,
    fetch: async () => {
      throw new TypeError("Failed to fetch");
    },
  });
  const refused = await authError("login", () => failing.login({ email: "a@example.com", password: PASSWORD }));
  assert.equal(refused.code, "network_error");
});
