import { appendFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Figures } from './scenario.js';

/** Figures go to a temp file (the repo stays clean); its path is logged. */
export const RESULTS_PATH =
  process.env.E2E_RESULTS ?? join(tmpdir(), 'tributary-e2e', 'faults-results.jsonl');

export function recordFigures(f: Figures & Record<string, unknown>): void {
  mkdirSync(join(RESULTS_PATH, '..'), { recursive: true });
  appendFileSync(RESULTS_PATH, `${JSON.stringify({ at: new Date().toISOString(), ...f })}\n`);
  console.log(`[e2e] figures appended to ${RESULTS_PATH}`);
}
