/**
 * Page accounting counted from the holders, not from the allocator's own totals: so the
 * check can fail when a page leaks, is held twice, or is counted wrong.
 */
export interface PageCensus {
  total: number;
  /** The allocator's count of free pages. */
  numFree: number;
  /** [total] the allocator's reference count of each page (0 = free). */
  refCounts: ArrayLike<number>;
  /** Each live request's page table. */
  requestPages: ReadonlyArray<readonly number[]>;
  /** Every page the prefix cache holds. */
  cachedPages: readonly number[];
}

/**
 * Invariant 2: each page's reference count equals its holders (one per request page
 * table it is in, one if cached); free pages have no holder; free + held = total.
 */
export function checkPageConservation(census: PageCensus): string[] {
  const problems: string[] = [];
  const holders = new Int32Array(census.total);
  census.requestPages.forEach((pages, r) => {
    const seen = new Set<number>();
    for (const page of pages) {
      if (!(page >= 0 && page < census.total)) problems.push(`request table ${r} holds invalid page ${page}`);
      else if (seen.has(page)) problems.push(`request table ${r} holds page ${page} twice`);
      else holders[page]++;
      seen.add(page);
    }
  });
  const cached = new Set<number>();
  for (const page of census.cachedPages) {
    if (cached.has(page)) problems.push(`page ${page} is cached twice`);
    else holders[page]++;
    cached.add(page);
  }
  let numHeld = 0;
  let numZero = 0;
  for (let page = 0; page < census.total; page++) {
    const count = census.refCounts[page];
    if (count > 0) numHeld++;
    else numZero++;
    if (count !== holders[page]) problems.push(`page ${page}: refcount ${count}, but ${holders[page]} holders`);
    if (problems.length > 8) break;
  }
  if (numZero !== census.numFree) problems.push(`allocator counts ${census.numFree} free pages, but ${numZero} have no holder`);
  if (numHeld + census.numFree !== census.total) problems.push(`free ${census.numFree} + held ${numHeld} != total ${census.total}`);
  return problems;
}
