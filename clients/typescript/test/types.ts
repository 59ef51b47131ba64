// Compile-time tests of the client's types (`npm run typecheck`); nothing here runs.
import {
  type AuthChangeListener,
  type AuthClient,
  type CommonErrorCode,
  type DocumentedErrorCode,
  type ErrorCode,
  type LoginResult,
  isAuthError,
  type Passkey,
  type SecurityEvent,
  type SecurityEventKind,
  type Session,
  type User,
} from "../src/index.js";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<_ extends true>(): void {}

type Result<Method extends keyof AuthClient> = Awaited<ReturnType<AuthClient[Method]>>;

// Success bodies.
assertType<Equal<Result<"register">, { user: User }>>();
assertType<Equal<Result<"me">, { user: User }>>();
assertType<Equal<Result<"listSessions">, { sessions: Session[] }>>();
assertType<Equal<Result<"forgotPassword">, { message: string }>>();
assertType<Equal<Result<"logout">, undefined>>();
assertType<Equal<Result<"securityEvents">, { events: SecurityEvent[]; nextBefore: number | null }>>();
assertType<Equal<SecurityEvent["kind"], SecurityEventKind>>();
assertType<
  Equal<DocumentedErrorCode<"securityEvents">, "validation_error" | "not_authenticated" | "service_unavailable">
>();
assertType<Equal<Result<"session">, User | null>>();
assertType<Equal<Result<"login">, LoginResult>>();
assertType<Equal<Result<"loginMfa">, { user: User }>>();
assertType<Equal<ReturnType<AuthClient["onChange"]>, () => void>>();
assertType<Equal<Parameters<AuthClient["onChange"]>[0], AuthChangeListener>>();
// Beside its documented codes, every operation can meet the common ones (network_error, and the development hints).
assertType<Equal<ErrorCode<"me">, DocumentedErrorCode<"me"> | CommonErrorCode>>();
assertType<Equal<CommonErrorCode, "network_error" | "origin_not_allowed" | "cross_site_api_host">>();
assertType<Equal<DocumentedErrorCode<"session">, "service_unavailable">>();
assertType<Equal<"code_already_used" extends DocumentedErrorCode<"loginMfa"> ? true : false, true>>();

// Each operation's own codes, and none of another's.
assertType<
  Equal<
    DocumentedErrorCode<"register">,
    | "malformed_json"
    | "validation_error"
    | "forbidden_origin"
    | "email_taken"
    | "request_too_large"
    | "unsupported_media_type"
    | "rate_limited"
    | "service_unavailable"
    | "password_check_unavailable"
  >
>();
assertType<Equal<DocumentedErrorCode<"me">, "not_authenticated" | "service_unavailable">>();
// @ts-expect-error email_taken is not an answer of login
const notALoginCode: ErrorCode<"login"> = "email_taken";

// Request bodies are checked.
declare const auth: AuthClient;
// @ts-expect-error password is required
void auth.register({ email: "ada@example.com" });
// @ts-expect-error a cursor is an event's id
void auth.securityEvents({ before: "newest" });

// The guard narrows a caught error to the operation's codes.
export function describe(error: unknown): string {
  if (isAuthError(error, "login")) {
    const code: ErrorCode<"login"> = error.code;
    return code === "rate_limited" ? `wait ${error.retryAfter ?? 0}s` : code;
  }
  return "unknown";
}

// Passkeys: each ceremony is one method; its errors are its last step's operation's, with the options step's codes
// and the browser's passkey_cancelled.
assertType<Equal<Result<"loginWithPasskey">, { user: User }>>();
assertType<Equal<Result<"registerPasskey">, { passkey: Passkey }>>();
assertType<Equal<Result<"reauthenticate">, undefined>>();
assertType<Equal<Result<"listPasskeys">, { passkeys: Passkey[] }>>();
assertType<Equal<Result<"renamePasskey">, { passkey: Passkey }>>();
assertType<Equal<Passkey["id"], number>>();
assertType<Equal<Parameters<AuthClient["registerPasskey"]>, [name?: string]>>();
assertType<
  Equal<
    ErrorCode<"passkeySignIn">,
    | "malformed_json"
    | "passkey_challenge_invalid"
    | "validation_error"
    | "invalid_credentials"
    | "passkey_invalid"
    | "passkey_not_recognized"
    | "forbidden_origin"
    | "request_too_large"
    | "unsupported_media_type"
    | "rate_limited"
    | "service_unavailable"
    | "passkey_cancelled"
    | "network_error"
    | "origin_not_allowed"
    | "cross_site_api_host"
  >
>();
// The options step's codes: no passkey to re-authenticate with is not_found.
assertType<Equal<Extract<ErrorCode<"reauthenticateWithPasskey">, "not_found" | "passkey_cancelled">, "not_found" | "passkey_cancelled">>();
assertType<Equal<Extract<ErrorCode<"registerPasskey">, "email_not_verified" | "passkey_limit_reached">, "email_not_verified" | "passkey_limit_reached">>();
// @ts-expect-error only a ceremony is cancelled
const notCancelled: ErrorCode<"login"> = "passkey_cancelled";
// @ts-expect-error a password sign-in is no ceremony
const notACeremonyCode: ErrorCode<"reauthenticate"> = "passkey_cancelled";
void auth.reauthenticate({ password: "current password" });
void auth.reauthenticate({ code: "123456" });
void auth.reauthenticate({ passkey: true });
// @ts-expect-error a passkey is asked for with true
void auth.reauthenticate({ passkey: false });
void auth.loginWithPasskey();
void auth.loginWithPasskey({ autofill: true });
// @ts-expect-error autofill is a boolean
void auth.loginWithPasskey({ autofill: "yes" });
// @ts-expect-error a passkey's id is a number
void auth.renamePasskey("1", "Phone");

export function passkeyMessage(error: unknown): string | null {
  if (!isAuthError(error, "passkeySignIn")) return null;
  switch (error.code) {
    case "passkey_cancelled":
      return null;
    case "passkey_not_recognized":
      return "This passkey was removed from your account.";
    default:
      return error.detail;
  }
}

// Login's two answers narrow on either property.
export async function signIn(email: string, password: string): Promise<string> {
  const result = await auth.login({ email, password });
  if (result.mfaRequired) {
    assertType<Equal<typeof result, { mfaRequired: true; user?: never }>>();
    // @ts-expect-error no user before the second factor
    const none: User = result.user;
    void none;
    return "second factor";
  }
  assertType<Equal<typeof result.user, User>>();
  return result.user.email;
}
export async function signInByUser(email: string, password: string): Promise<User | null> {
  const result = await auth.login({ email, password });
  return result.user ?? null;
}
export async function destructured(email: string, password: string): Promise<User | undefined> {
  // The JSDoc's old example, `const { user } = await auth.login(...)`: `user` may be missing.
  const { user } = await auth.login({ email, password });
  assertType<Equal<typeof user, User | undefined>>();
  return user;
}

// The session and its changes.
export async function follow(render: (user: User | null) => void): Promise<() => void> {
  const stop = auth.onChange(render);
  render(await auth.session());
  return stop;
}
// @ts-expect-error a listener takes the user or null, not a string
auth.onChange((user: string) => user);

// network_error is a code of every operation, and status 0 goes with it.
export function offline(error: unknown): boolean {
  return isAuthError(error, "session") && error.code === "network_error";
}

void notALoginCode;
void notCancelled;
void notACeremonyCode;
