import {
  Virtualizer,
  elementScroll,
  observeElementOffset,
  observeElementRect,
  type VirtualItem,
} from '@tanstack/virtual-core';
import { useEffect, useLayoutEffect, useReducer, useState } from 'preact/hooks';

/**
 * @tanstack/virtual-core bound to a Preact component: only the rows in (and just around) the
 * viewport are rendered, so a 100,000-event log scrolls like a 50-row one.
 */
export function useVirtualRows(
  count: number,
  rowHeight: number,
  scrollElement: () => HTMLElement | null,
): { readonly items: VirtualItem[]; readonly total: number; readonly scrollTo: (index: number) => void } {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const [v] = useState(
    () =>
      new Virtualizer<HTMLElement, HTMLElement>({
        count,
        getScrollElement: scrollElement,
        estimateSize: () => rowHeight,
        scrollToFn: elementScroll,
        observeElementRect,
        observeElementOffset,
        overscan: 12,
        onChange: () => rerender(0),
      }),
  );
  v.setOptions({
    ...v.options,
    count,
    getScrollElement: scrollElement,
    estimateSize: () => rowHeight,
    onChange: () => rerender(0),
  });
  useEffect(() => v._didMount(), [v]);
  useLayoutEffect(() => v._willUpdate());
  return {
    items: v.getVirtualItems(),
    total: v.getTotalSize(),
    scrollTo: (index) => v.scrollToIndex(index, { align: 'center' }),
  };
}
