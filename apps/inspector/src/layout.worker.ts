/// <reference lib="webworker" />
import type { LayoutRequest } from './graph.js';
import { layout } from './layout.js';

// The layout runs here so a large graph never blocks the page; the page keeps the latest answer.
self.onmessage = (e: MessageEvent<LayoutRequest>) => {
  self.postMessage(layout(e.data));
};
