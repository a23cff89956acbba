/** Whatever was thrown, as an Error, so an `onError` callback always gets one. */
export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
