/**
 * Polls until `probe` answers something truthy and returns it; fails after `ms` saying what it waited for. Bounded,
 * and the wait ends as soon as the probe answers: a wait, not a timed assertion.
 */
export async function until<T>(probe: () => T | undefined | false | null, what: string, ms = 15_000, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
