// The GraphQL client: the user's API key (session storage, never a URL) on every request, and
// a cache that keeps each object once, by its id, so a change seen on one page shows on all.
import { ApolloClient, HttpLink, InMemoryCache } from "@apollo/client";
import { SetContextLink } from "@apollo/client/link/context";

const KEY = "forebear.key";

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function signIn(key: string): void {
  sessionStorage.setItem(KEY, key.trim());
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  client.clearStore();
}

export const client = new ApolloClient({
  link: new SetContextLink((prev) => ({
    headers: { ...prev.headers, authorization: `Bearer ${apiKey() ?? ""}` },
  })).concat(new HttpLink({ uri: "/graphql" })),
  cache: new InMemoryCache({
    typePolicies: {
      // events have ids, but their JSON before/after are plain values
      Event: { keyFields: ["id"] },
    },
  }),
  defaultOptions: { watchQuery: { fetchPolicy: "cache-and-network" } },
});

/** The message of a failed call, as the server worded it (its refusals name what to do). */
export function messageOf(error: unknown): string {
  if (error && typeof error === "object" && "errors" in error) {
    const errors = (error as { errors: { message: string }[] }).errors;
    if (errors.length) return errors.map((e) => e.message).join("; ");
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The GraphQL error code of a failed call (UNAUTHENTICATED, FORBIDDEN, ...), if any. */
export function codeOf(error: unknown): string | undefined {
  if (error && typeof error === "object" && "errors" in error) {
    const errors = (error as { errors: { extensions?: { code?: string } }[] }).errors;
    return errors[0]?.extensions?.code;
  }
  return undefined;
}
