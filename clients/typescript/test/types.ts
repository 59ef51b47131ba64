// Compile-time tests of the client's types (`npm run typecheck`); nothing here runs.
import {
  type AuthClient,
  type ErrorCode,
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
assertType<Equal<ErrorCode<"securityEvents">, "validation_error" | "not_authenticated" | "service_unavailable">>();

// Each operation's own codes, and none of another's.
assertType<
  Equal<
    ErrorCode<"register">,
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
assertType<Equal<ErrorCode<"me">, "not_authenticated" | "service_unavailable">>();
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

void notALoginCode;
