import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseRunSpec } from './run-spec.parser.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/design/run.yaml', import.meta.url));
// DESIGN.md lives beside the checkout on the team's machines, not in the repository.
const DESIGN = fileURLToPath(new URL('../../../../shared/DESIGN.md', import.meta.url));

/** The first YAML block of DESIGN.md: the run spec every field of the contract appears in. */
function designBlock(text: string): string {
  const start = text.indexOf('```yaml\n');
  const end = text.indexOf('\n```', start + 8);
  return text.slice(start + 8, end + 1);
}

describe("DESIGN.md's example run spec", () => {
  it('parses with no problem (examples/design/run.yaml is that example verbatim)', () => {
    const result = parseRunSpec(readFileSync(EXAMPLE, 'utf8'), 'yaml');
    expect(result.ok ? [] : result.problems).toEqual([]);
  });

  it('is the example DESIGN.md shows, when DESIGN.md is beside the checkout', () => {
    if (!existsSync(DESIGN)) {
      console.info(
        `NOT COMPARED: ${DESIGN} is not on this machine; examples/design/run.yaml was taken from it`,
      );
      return;
    }
    expect(readFileSync(EXAMPLE, 'utf8')).toBe(designBlock(readFileSync(DESIGN, 'utf8')));
  });
});
