// Guarantee 1, "Durable", its part in the page: ask the browser not to evict the queue.

/** How long to wait for the browser's answer before saying "not granted" (Firefox may ask the user, who may never answer). */
export const PERSIST_ANSWER_MS = 3_000;

/**
 * Asks for persistent storage (`navigator.storage.persist()`); resolves with whether it is
 * granted, and with false where the browser cannot say or does not answer in time.
 */
export async function requestPersistence(answerMs = PERSIST_ANSWER_MS): Promise<boolean> {
  const storage = typeof navigator === 'undefined' ? undefined : (navigator.storage as { persist?(): Promise<boolean>; persisted?(): Promise<boolean> } | undefined);
  if (!storage?.persist) return false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silence = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), answerMs); });
  try {
    const ask = (async () => (await storage.persisted?.()) || (await storage.persist!()))();
    return await Promise.race([ask, silence]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
