/**
 * Whether a URL points at this machine (its host is a loopback address or `localhost`).
 *
 * @since 0.1.0
 */

/** Whether a URL's host is a loopback address. */
export const isLoopbackUrl = (url: string): boolean => {
  const host = new URL(url).hostname
  return host === "localhost" || host === "[::1]" || host === "::1" || host.startsWith("127.")
}
