// AUTHD_THOROUGH=1 (.ci/run sets it): the full counts the randomised tests were asked for. Without it
// (`npm test` on a laptop) the same tests run with smaller counts, so the suite stays quick; the
// assertions are the same either way, only the number of rounds differs.
export const THOROUGH = process.env.AUTHD_THOROUGH === '1';

/** `full` under AUTHD_THOROUGH=1, else `quick`. */
export function rounds(full: number, quick: number): number {
  return THOROUGH ? full : quick;
}
