// The examples of the client's documentation, type-checked with the client (`npm run typecheck`); nothing here runs.
// Each function is one example, as a frontend would write it.
import { createAuthClient, isAuthError, type User } from "../src/index.js";

const auth = createAuthClient({ baseUrl: "http://localhost:3000" });
declare function render(user: User | null): void;
declare function showError(message: string): void;
declare function askForCode(): Promise<string>;

// session(): who is signed in, on page load; null when signed out (no 401 in the console).
export async function onLoad(): Promise<void> {
  const user = await auth.session();
  render(user);
}

// onChange(listener): follow sign-in and sign-out, including a session ended elsewhere.
export function follow(): () => void {
  const unsubscribe = auth.onChange((user) => render(user));
  // The first answer is told too: render runs once with the current state.
  auth.session().catch((error: unknown) => showError(String(error)));
  return unsubscribe; // e.g. from a React effect's cleanup
}

// login(): {user}, or {mfaRequired: true} when the account asks for a second factor.
export async function signIn(email: string, password: string): Promise<User> {
  const result = await auth.login({ email, password });
  if (result.mfaRequired) {
    const { user } = await auth.loginMfa({ code: await askForCode() });
    return user;
  }
  return result.user;
}

// network_error: no answer at all (offline, wrong baseUrl, a CORS refusal).
export async function signOut(): Promise<void> {
  try {
    await auth.logout();
  } catch (error) {
    if (isAuthError(error, "logout") && error.code === "network_error") {
      showError("You appear to be offline. Try again.");
      return;
    }
    throw error;
  }
}

// code_already_used: the right code, but of a 30-second step already used (e.g. the one that just turned
// two-factor sign-in on): wait for the next code.
export async function secondStep(code: string): Promise<User | null> {
  try {
    return (await auth.loginMfa({ code })).user;
  } catch (error) {
    if (isAuthError(error, "loginMfa")) {
      if (error.code === "code_already_used") {
        showError("That code was just used. Wait for the next one in your app.");
      } else if (error.code === "invalid_code") {
        showError("That code is not right.");
      } else if (error.code === "rate_limited") {
        showError(`Too many attempts. Try again in ${error.retryAfter ?? 60} seconds.`);
      } else {
        showError(error.detail);
      }
      return null;
    }
    throw error;
  }
}

// The development hints: a page origin not in CORS_ORIGINS, or an API called on another site than the app.
export async function explainDevelopmentProblems(): Promise<void> {
  try {
    await auth.session();
  } catch (error) {
    if (isAuthError(error) && (error.code === "cross_site_api_host" || error.code === "origin_not_allowed")) {
      console.error(error.detail); // says why, and what to change
    }
  }
}
