// Compile-time tests of the client's types (`npm run typecheck`); nothing here runs.
import {
  type AuthChangeListener,
  type AuthClient,
  type CommonErrorCode,
  type DocumentedErrorCode,
  type ErrorCode,
  type LoginResult,
  isAuthError,
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
