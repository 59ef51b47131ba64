/**
 * Typed client of the pet_auth API for the Pet Manager SPA.
 *
 * Every method returns the operation's success body, or throws an {@link AuthError} whose `code` is one of the
 * operation's problem codes (see {@link ErrorCode}), or `network_error` when no answer could be read. Requests carry
 * the HttpOnly session cookie (`credentials: 'include'`); the browser stores and sends it, the page never sees it.
 * `session()` tells who is signed in (or `null`) without an error, and `onChange(listener)` follows it.
 */
import {
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
  startAuthentication,
  startRegistration,
} from "@simplewebauthn/browser";
import createClient from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

/** The API's operations, by `operationId`. */
export type OperationId = keyof operations;

type Responses<Id extends OperationId> = operations[Id]["responses"];
type ProblemBody<Answer> = Answer extends { content: { "application/problem+json": infer Body } } ? Body : never;

/** The problem+json bodies an operation can answer with. */
export type Problem<Id extends OperationId> = {
  [Status in keyof Responses<Id>]: ProblemBody<Responses<Id>[Status]>;
}[keyof Responses<Id>];

/** The problem codes the API's document states for an operation. */
export type DocumentedErrorCode<Id extends OperationId> = CodeOf<Problem<Id>>;

/**
 * Codes any operation can meet beside its documented ones:
 * - `network_error`: no answer could be read (network down, wrong `baseUrl`, or the browser refused the answer for
 *   CORS; the browser's console says which). Thrown by the client itself, with `status` 0.
 * - `origin_not_allowed`, `cross_site_api_host`: a development server's explanation (APP_ENV=development, status
 *   403) of a page origin that is not in CORS_ORIGINS, or of an app and API on different sites (`localhost`
 *   versus `127.0.0.1`), where the session cookie would never be sent. A production server never answers them.
 */
export type CommonErrorCode = "network_error" | "origin_not_allowed" | "cross_site_api_host";

/** Every `code` an operation's AuthError can carry, e.g. `ErrorCode<"register">`. */
export type ErrorCode<Id extends OperationId> = DocumentedErrorCode<Id> | CommonErrorCode | PasskeyCeremonyCode<Id>;
type CodeOf<Body> = Body extends { code: infer Code } ? Code : never;

/** The JSON body an operation takes. */
export type RequestBody<Id extends OperationId> = operations[Id] extends {
  requestBody: { content: { "application/json": infer Body } };
}
  ? Body
  : never;

export type User = components["schemas"]["UserOut"];
/**
 * What `login` resolves to: signed in (`{user}`), or the password was right and the account asks for a second factor
 * (`{mfaRequired: true}`; complete it with `loginMfa`). Either property tells them apart:
 * `if (result.mfaRequired) { ... } else { result.user }`.
 */
export type LoginResult = { user: User; mfaRequired?: never } | { mfaRequired: true; user?: never };
/** Called with the signed-in user, or `null` once signed out; see {@link AuthClient.onChange}. */
export type AuthChangeListener = (user: User | null) => void;
export type Session = components["schemas"]["SessionOut"];
/** An entry of the account's activity log. */
export type SecurityEvent = components["schemas"]["SecurityEventOut"];
export type SecurityEventKind = components["schemas"]["EventKind"];
/** A page of the activity log: `before` (the previous page's `nextBefore`) and `limit` (1 to 100, default 20). */
export type SecurityEventsQuery = { before?: number; limit?: number };
/** A passkey of the signed-in user, as `listPasskeys` lists it. */
export type Passkey = components["schemas"]["PasskeyOut"];
/** What `reauthenticate` takes: the password, a code of the authenticator app, or a passkey (`{ passkey: true }`). */
export type Reauthentication = RequestBody<"reauthenticate"> | { passkey: true };
/** What `loginWithPasskey` takes: `autofill` offers the passkeys in the autofill of an `autocomplete="… webauthn"`. */
export type PasskeyLoginOptions = { autofill?: boolean };

/** A way to re-authenticate for sudo mode, as `reauthentication_required` lists them. */
export type ReauthenticationMethod = "password" | "totp" | "passkey";

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** A problem answer of the API (RFC 9457), thrown by every method of the client. */
export class AuthError<Id extends OperationId = OperationId> extends Error {
  override readonly name = "AuthError";

  constructor(
    /** The operation that failed, e.g. `"login"`. */
    readonly operation: Id,
    /** The HTTP status. */
    readonly status: number,
    /** The stable, machine-readable reason: branch on this. */
    readonly code: ErrorCode<Id>,
    /** A sentence for people. */
    readonly detail: string,
    /** Field errors (`validation_error` only; empty otherwise). */
    readonly errors: readonly FieldError[],
    /** Seconds to wait before trying again (`rate_limited` only; `null` otherwise). */
    readonly retryAfter: number | null,
    /** The ways this user can re-authenticate (`reauthentication_required` only; empty otherwise). */
    readonly methods: readonly ReauthenticationMethod[] = [],
    /** For `network_error`: what fetch threw. */
    options?: { cause?: unknown },
  ) {
    super(detail, options);
  }
}

const NETWORK_ERROR_DETAIL =
  "The API could not be reached, or the browser withheld its answer (network down, wrong baseUrl, or a CORS " +
  "refusal: the browser's console says which).";

/** What the client's fetch throws when fetch itself failed: no answer came. */
class NoAnswer extends Error {
  constructor(cause: unknown) {
    super("no answer", { cause });
  }
}

/** Whether `error` is an AuthError, of `operation` when given; narrows `error.code` to that operation's codes. */
export function isAuthError<Id extends OperationId>(error: unknown, operation?: Id): error is AuthError<Id> {
  return error instanceof AuthError && (operation === undefined || error.operation === operation);
}

export interface AuthClientOptions {
  /** Where the API is, e.g. `https://auth.example.com` or `http://localhost:3000`. */
  baseUrl: string;
  /** A fetch to use instead of the global one (in Node, one that keeps cookies). */
  fetch?: (request: Request) => Promise<Response>;
}

/** What openapi-fetch resolves to: the success body, or the error body. */
type Outcome<Data, Error> =
  | { data: Data; error?: never; response: Response }
  | { data?: never; error: Error; response: Response };

async function outcome<Id extends OperationId, Data>(
  operation: Id,
  call: Promise<Outcome<Data, Problem<Id>>>,
): Promise<Data> {
  let answer: Outcome<Data, Problem<Id>>;
  try {
    answer = await call;
  } catch (error) {
    if (error instanceof NoAnswer) {
      throw new AuthError(operation, 0, "network_error", NETWORK_ERROR_DETAIL, [], null, [], { cause: error.cause });
    }
    throw error;
  }
  const { data, error, response } = answer;
  if (response.ok) {
    return data as Data;
  }
  if (!isProblem(error)) {
    throw new Error(`pet_auth ${operation}: unexpected ${response.status} answer without a problem body`);
  }
  const retryAfter = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  throw new AuthError(
    operation,
    response.status,
    error.code as ErrorCode<Id>,
    error.detail,
    error.errors ?? [],
    Number.isNaN(retryAfter) ? null : retryAfter,
    error.methods ?? [],
  );
}

/** The fetch the client uses: the given one (or the global one, looked up at each call), whose failures before any
 * answer become {@link NoAnswer}. An abort stays an abort. */
function guarded(given: AuthClientOptions["fetch"]) {
  return async (request: Request, init?: RequestInit): Promise<Response> => {
    try {
      return await (given ? given(request) : globalThis.fetch(request, init));
    } catch (error) {
      if (error instanceof Error && error.name === "AbortError") {
        throw error;
      }
      throw new NoAnswer(error);
    }
  };
}

/**
 * The sign-in state as this client last learnt it, and who listens to its changes: one hook, `tell(user)`, called by
 * every answer that says who is signed in (a sign-in, `session()`, `me()`) and every one that ends the session (sign
 * out, account deletion, ending the current session, a 401 `not_authenticated`).
 */
class SignInState {
  private readonly listeners = new Set<AuthChangeListener>();
  /** The last state told (JSON of the user, or "null"); undefined until the first. */
  private known: string | undefined;

  get listened(): boolean {
    return this.listeners.size > 0;
  }

  listen(listener: AuthChangeListener): () => void {
    // A wrapper of its own: the same function subscribed twice is called twice, and each unsubscribe removes one.
    const entry: AuthChangeListener = (user) => listener(user);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  tell(user: User | null): void {
    const key = JSON.stringify(user);
    if (key === this.known) {
      return;
    }
    this.known = key;
    for (const listener of [...this.listeners]) {
      try {
        listener(user);
      } catch (error) {
        // A listener's error is its own: reported, never thrown into the call that changed the state.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  /** A 401 `not_authenticated` means there is no session (any more). */
  observe(error: unknown): never {
    if (error instanceof AuthError && error.status === 401 && (error.code as string) === "not_authenticated") {
      this.tell(null);
    }
    throw error;
  }
}

interface ProblemShape {
  code: string;
  detail: string;
  errors?: FieldError[];
  methods?: ReauthenticationMethod[];
}

function isProblem(body: unknown): body is ProblemShape {
  return typeof body === "object" && body !== null && typeof (body as { code?: unknown }).code === "string";
}

/** Operations of the API that are not about auth (health checks). */
type OtherOperation = "health" | "ready";

export { browserSupportsWebAuthn, browserSupportsWebAuthnAutofill } from "@simplewebauthn/browser";

/**
 * The passkey (WebAuthn) ceremonies, each one method of the client: the operation whose id its errors carry (the
 * last step), and its options step. The options step is no method of its own; its errors are thrown as the last
 * step's, so `isAuthError(error, "passkeySignIn")` catches every error of `loginWithPasskey`.
 */
type PasskeyCeremonies = {
  registerPasskey: "passkeyRegistrationOptions"; // registerPasskey(name?)
  passkeySignIn: "passkeySignInOptions"; // loginWithPasskey({ autofill? })
  reauthenticateWithPasskey: "passkeyReauthenticationOptions"; // reauthenticate({ passkey: true })
};
type PasskeyCeremony = keyof PasskeyCeremonies;
/** The operations the client runs inside a method of another name, and the methods named after no operation. */
type CeremonyStep = PasskeyCeremonies[PasskeyCeremony] | "passkeySignIn" | "reauthenticateWithPasskey";
type CeremonyMethod = "loginWithPasskey";

/**
 * The codes a ceremony adds to its last step's: its options step's, and two of the browser's, answered with status 0
 * (no HTTP answer):
 * - `passkey_cancelled`: the browser's dialog was dismissed, timed out, or the request was aborted (a newer
 *   ceremony aborts a pending autofill request) — WebAuthn's `NotAllowedError` or `AbortError`;
 * - `passkey_already_registered` (`registerPasskey`): the authenticator already holds one of the account's passkeys
 *   (WebAuthn's `InvalidStateError`), the same code the server answers when it finds the credential registered.
 */
type PasskeyCeremonyCode<Id extends OperationId> = Id extends PasskeyCeremony
  ? CodeOf<Problem<PasskeyCeremonies[Id]>> | "passkey_cancelled"
  : never;

/**
 * A passkey ceremony: fetch the options, let the browser make or use a passkey with them, send its answer. Every
 * error is an AuthError of `operation` (the options step's too), except what is not about this account or this
 * browser's answer (no WebAuthn in the browser, an RP ID that does not fit the page): the browser's error as it is.
 */
async function passkeyCeremony<Options, Credential, Result>(
  operation: PasskeyCeremony,
  options: () => Promise<Options>,
  browser: (optionsJSON: Options) => Promise<Credential>,
  finish: (credential: Credential) => Promise<Result>,
): Promise<Result> {
  let optionsJSON: Options;
  try {
    optionsJSON = await options();
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    const code = error.code as ErrorCode<typeof operation>; // the options step's codes are the ceremony's
    throw new AuthError(operation, error.status, code, error.detail, error.errors, error.retryAfter, error.methods);
  }
  let credential: Credential;
  try {
    credential = await browser(optionsJSON);
  } catch (error) {
    const name = error instanceof Error ? error.name : "";
    if (name === "NotAllowedError" || name === "AbortError") {
      throw new AuthError(operation, 0, "passkey_cancelled", (error as Error).message, [], null);
    }
    if (name === "InvalidStateError" && operation === "registerPasskey") {
      throw new AuthError(operation, 0, "passkey_already_registered", (error as Error).message, [], null);
    }
    throw error;
  }
  return finish(credential);
}

/** The browser's answer as the API's schema has it (`clientExtensionResults`: an object, as any JSON object). */
function asJSON<Credential extends { clientExtensionResults: object }>(
  credential: Credential,
): Omit<Credential, "clientExtensionResults"> & { clientExtensionResults: Record<string, unknown> } {
  const { clientExtensionResults, ...rest } = credential;
  const results: Record<string, unknown> = {};
  return { ...rest, clientExtensionResults: Object.assign(results, clientExtensionResults) };
}

/**
 * The client. `baseUrl` is the API's origin; requests include the session cookie.
 *
 * ```ts
 * const auth = createAuthClient({ baseUrl: import.meta.env.VITE_AUTH_URL });
 * const result = await auth.login({ email, password });
 * if (result.mfaRequired) {
 *   // ask for the authenticator's code, then: await auth.loginMfa({ code });
 * } else {
 *   console.log(`signed in as ${result.user.email}`);
 * }
 * ```
 */
export function createAuthClient({ baseUrl, fetch }: AuthClientOptions) {
  const api = createClient<paths>({ baseUrl, credentials: "include", fetch: guarded(fetch) });
  const state = new SignInState();
  /** The `id` of this browser's session, as `listSessions` last marked it current. */
  let currentSessionId: string | undefined;

  /** One operation: its success body, or its AuthError (a 401 `not_authenticated` also tells the state). */
  const call = <Id extends OperationId, Data>(operation: Id, request: Promise<Outcome<Data, Problem<Id>>>) =>
    outcome(operation, request).catch((error: unknown) => state.observe(error));
  /** A sign-in, whichever way it came (password, second factor, sign-up, and any future one). */
  const signedIn = <Answer extends { user: User }>(answer: Answer): Answer => {
    currentSessionId = undefined;
    state.tell(answer.user);
    return answer;
  };
  const signedOut = (): undefined => {
    currentSessionId = undefined;
    state.tell(null);
    return undefined;
  };
  /** After a change whose answer does not say this browser's state (the user's profile changed, or sessions of an
   * account ended): asked again, when anyone listens. */
  const recheck = async <Answer>(answer: Answer): Promise<Answer> => {
    currentSessionId = undefined;
    if (state.listened) {
      await session().catch(() => undefined);
    }
    return answer;
  };
  const session = async (): Promise<User | null> => {
    const { user } = await call("session", api.GET("/api/auth/session"));
    state.tell(user);
    return user;
  };

  const methods = {
    /** Create an account and sign in. */
    register: (body: RequestBody<"register">) =>
      call("register", api.POST("/api/auth/register", { body })).then(signedIn),
    /** Sign in; the session gets a new id. `{mfaRequired: true}` when the account asks for a second factor. */
    login: async (body: RequestBody<"login">): Promise<LoginResult> => {
      const result: LoginResult = await call("login", api.POST("/api/auth/login", { body }));
      return result.mfaRequired ? result : signedIn(result);
    },
    /** Sign out: the session ends and its cookie is expired (also without a session). */
    logout: () => call("logout", api.POST("/api/auth/logout")).then(signedOut),
    /** The signed-in user, or `null` when signed out: never an error for being signed out (no 401 in the console). */
    session,
    /**
     * Follow the sign-in state: `listener(user)` is called with the user, or `null`, each time the state this client
     * learns differs from the last one it told. Returns the function that unsubscribes.
     *
     * - What tells the state: a sign-in (`register`, `login` answering `{user}`, `loginMfa`) tells the user;
     *   `session()` and `me()` tell what they answer; `logout`, `deleteAccount`, `endSession` of the session that
     *   `listSessions` marked current, and any 401 `not_authenticated` (the session ended or was revoked elsewhere)
     *   tell `null`. After `verifyEmail`, `confirmEmail`, `resetPassword`, `confirmTotp` and `disableMfa`, whose
     *   answers do not say this browser's state, the client asks `GET /api/auth/session` again when anyone listens.
     * - Once per change: the same user (every field equal) or `null` again is not told twice. The first state the
     *   client learns counts as a change, so `auth.onChange(render); await auth.session();` renders once.
     * - Not called on subscribing, nor for a failure without an answer (`network_error`) or any other error.
     * - Called synchronously, in the order of subscription, before the method's promise resolves; a listener's
     *   error is rethrown from a timer of its own, never into the call.
     * - Per client: two clients (or two tabs) each follow what they see.
     */
    onChange: (listener: AuthChangeListener): (() => void) => state.listen(listener),
    /** The signed-in user; a 401 `not_authenticated` when signed out (`session()` answers `null` instead). */
    me: () => call("me", api.GET("/api/auth/me")).then((answer) => (state.tell(answer.user), answer)),
    /** Email a reset link; the answer is the same whether or not the account exists. */
    forgotPassword: (body: RequestBody<"forgotPassword">) =>
      call("forgotPassword", api.POST("/api/auth/forgot-password", { body })),
    /** Set a new password with the emailed token; every session of the user ends. */
    resetPassword: (body: RequestBody<"resetPassword">) =>
      call("resetPassword", api.POST("/api/auth/reset-password", { body })).then(recheck),
    /** Change the password; this session stays (with a new id), every other one ends. */
    changePassword: (body: RequestBody<"changePassword">) =>
      call("changePassword", api.POST("/api/auth/change-password", { body })).then((answer) => {
        currentSessionId = undefined;
        return answer;
      }),
    /**
     * Prove a factor again (`{password}` or `{code}`) so that sensitive changes (sudo mode) are allowed for the
     * next few minutes; they answer 401 `reauthentication_required`, with the `methods` this user can use, outside
     * that window.
     */
    reauthenticate: (body: Reauthentication): Promise<undefined> =>
      "passkey" in body
        ? passkeyCeremony(
            "reauthenticateWithPasskey",
            () => outcome("passkeyReauthenticationOptions", api.POST("/api/auth/reauthenticate/passkey/options")),
            (optionsJSON) => startAuthentication({ optionsJSON }),
            (credential: AuthenticationResponseJSON) =>
              outcome(
                "reauthenticateWithPasskey",
                api.POST("/api/auth/reauthenticate/passkey", { body: { credential: asJSON(credential) } }),
              ),
          )
        : call("reauthenticate", api.POST("/api/auth/reauthenticate", { body })),
    /** Every live session of the signed-in user, the current one marked. */
    listSessions: () =>
      call("listSessions", api.GET("/api/auth/sessions")).then((answer) => {
        currentSessionId = answer.sessions.find((entry) => entry.current)?.id;
        return answer;
      }),
    /** End one session by its `id` from `listSessions`; ending the current one signs out. */
    endSession: (id: string) =>
      call(
        "endSession",
        api.DELETE("/api/auth/sessions/{session_id}", { params: { path: { session_id: id } } }),
      ).then((answer) => (id === currentSessionId ? signedOut() : answer)),
    /** End every session of the user but this one (sudo mode). */
    revokeOtherSessions: () => call("revokeOtherSessions", api.POST("/api/auth/sessions/revoke-others")),
    /** Verify the address with the token of the emailed link; needs no session. */
    verifyEmail: (body: RequestBody<"verifyEmail">) =>
      call("verifyEmail", api.POST("/api/auth/verify-email", { body })).then(recheck),
    /** Mail a fresh verification link, unless the address is verified already. */
    resendVerification: () => call("resendVerification", api.POST("/api/auth/verify-email/resend")),
    /** Ask to move the account to a new address; it changes once the link mailed there is used. */
    changeEmail: (body: RequestBody<"changeEmail">) =>
      call("changeEmail", api.POST("/api/auth/change-email", { body })),
    /** Confirm a new address with the token of the link mailed to it; every session of the account ends. */
    confirmEmail: (body: RequestBody<"confirmEmail">) =>
      call("confirmEmail", api.POST("/api/auth/confirm-email", { body })).then(recheck),
    /** Whether two-factor sign-in is on, and how many recovery codes are left. */
    mfaStatus: () => call("mfaStatus", api.GET("/api/auth/mfa")),
    /** A new authenticator secret and its otpauth:// URI (for a QR code); not active until confirmed. */
    setupTotp: (body: RequestBody<"setupTotp">) => call("setupTotp", api.POST("/api/auth/mfa/totp/setup", { body })),
    /** Turn two-factor sign-in on with a first code; returns the recovery codes, shown this once. */
    confirmTotp: (body: RequestBody<"confirmTotp">) =>
      call("confirmTotp", api.POST("/api/auth/mfa/totp/confirm", { body })).then(recheck),
    /** A new set of recovery codes; the earlier set stops working. */
    replaceRecoveryCodes: (body: RequestBody<"replaceRecoveryCodes">) =>
      call("replaceRecoveryCodes", api.POST("/api/auth/mfa/recovery-codes", { body })).then((answer) => {
        currentSessionId = undefined;
        return answer;
      }),
    /** Turn two-factor sign-in off (with a code of the authenticator, or a recovery code). */
    disableMfa: (body: RequestBody<"disableMfa">) =>
      call("disableMfa", api.POST("/api/auth/mfa/disable", { body })).then(recheck),
    /** The second step of a sign-in that answered `{mfaRequired: true}`: `{code}` or `{recoveryCode}`. */
    loginMfa: (body: RequestBody<"loginMfa">) =>
      call("loginMfa", api.POST("/api/auth/login/mfa", { body })).then(signedIn),
    /** The account's activity log, newest first; pass the answer's `nextBefore` as `before` for the next page. */
    securityEvents: (query: SecurityEventsQuery = {}) =>
      call("securityEvents", api.GET("/api/auth/security-events", { params: { query } })),
    /** Delete the account; every session ends. */
    deleteAccount: (body: RequestBody<"deleteAccount">) =>
      call("deleteAccount", api.POST("/api/auth/delete-account", { body })).then(signedOut),
    /**
     * Sign in with a passkey: `{ user }`, with no second step. Without `autofill`, for a "sign in with a passkey"
     * button: the browser shows its dialog at once. With `autofill: true`, call it when the sign-in page loads: the
     * browser offers the passkeys in the autofill of the `<input autocomplete="username webauthn">`, and this
     * resolves once the user picks one. Errors are `AuthError`s of `"passkeySignIn"`; `passkey_cancelled` when the
     * user dismissed the dialog, or a newer ceremony (the button) aborted the autofill request.
     */
    loginWithPasskey: ({ autofill = false }: PasskeyLoginOptions = {}) =>
      passkeyCeremony(
        "passkeySignIn",
        () => outcome("passkeySignInOptions", api.POST("/api/auth/login/passkey/options")),
        (optionsJSON) => startAuthentication({ optionsJSON, useBrowserAutofill: autofill }),
        (credential: AuthenticationResponseJSON) =>
          call("passkeySignIn", api.POST("/api/auth/login/passkey", { body: { credential: asJSON(credential) } })),
      ).then(signedIn),
    /**
     * Make a passkey on this device and add it to the account (sudo mode, a verified address): `{ passkey }`. The
     * session gets a new id and every other session ends, as with a new password. `name` defaults to "Passkey".
     */
    registerPasskey: (name?: string) =>
      passkeyCeremony(
        "registerPasskey",
        () => outcome("passkeyRegistrationOptions", api.POST("/api/auth/passkeys/register/options")),
        (optionsJSON) => startRegistration({ optionsJSON }),
        (credential: RegistrationResponseJSON) =>
          outcome(
            "registerPasskey",
            api.POST("/api/auth/passkeys/register", {
              body: name === undefined ? { credential: asJSON(credential) } : { credential: asJSON(credential), name },
            }),
          ),
      ),
    /** The account's passkeys, oldest first. */
    listPasskeys: () => call("listPasskeys", api.GET("/api/auth/passkeys")),
    /** Rename a passkey by its `id` from `listPasskeys` (1 to 120 characters). */
    renamePasskey: (id: number, name: string) =>
      call(
        "renamePasskey",
        api.PATCH("/api/auth/passkeys/{passkey_id}", { params: { path: { passkey_id: id } }, body: { name } }),
      ),
    /**
     * Remove a passkey from the account (sudo mode); the device may still offer it, then sign-in answers
     * `passkey_not_recognized`.
     */
    deletePasskey: (id: number) =>
      call("deletePasskey", api.DELETE("/api/auth/passkeys/{passkey_id}", { params: { path: { passkey_id: id } } })),
    /**
     * Remove the password (sudo mode; the account needs a passkey, else `last_sign_in_method`): it then signs in with
     * passkeys only. `changePassword({ newPassword })` in sudo mode, or a reset, sets one again.
     */
    removePassword: () => call("removePassword", api.DELETE("/api/auth/password")),
  } satisfies Record<Exclude<OperationId, OtherOperation | CeremonyStep> | CeremonyMethod, unknown> &
    Record<string, unknown>;
  return methods;
}

export type AuthClient = ReturnType<typeof createAuthClient>;
