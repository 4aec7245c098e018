import { describe, expect, it } from '@jest/globals';
import { reportFormatFor } from './run-report.js';

describe('reportFormatFor: the report format an Accept header asks for', () => {
  it.each([
    [undefined, 'json'],
    ['', 'json'],
    ['*/*', 'json'],
    ['application/json', 'json'],
    ['text/markdown', 'md'],
    ['text/markdown; charset=utf-8', 'md'],
    ['text/html', 'html'],
    ['TEXT/HTML', 'html'],
    // A browser's header: HTML first.
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'html'],
    // By q, then by order.
    ['text/html;q=0.5, text/markdown', 'md'],
    ['text/markdown, text/html', 'md'],
    ['text/*', 'md'],
    // Nothing it can give: JSON, not a 406.
    ['image/png', 'json'],
    ['text/html;q=0', 'json'],
    ['text/html;q=oops', 'json'],
  ] as const)('%j → %s', (accept, format) => {
    expect(reportFormatFor(accept)).toBe(format);
  });
});
