/**
 * The legends under the rings and the lanes: each slot state with its swatch (colour and
 * pattern, the same tiles the rings are painted with), what the hands are, and each
 * thread state with its colour and height.
 */
import { LANE_STYLE } from './draw-lanes.js';
import { DESC_PAINTS, type Paint, RX_PAINTS, swatch, TX_PAINTS } from './draw-ring.js';

function item(p: Paint): HTMLElement {
  const s = document.createElement('span');
  s.append(swatch(p), p.label);
  return s;
}

function group(text: string): HTMLElement {
  const s = document.createElement('span');
  s.className = 'group';
  s.textContent = text;
  return s;
}

export function buildLegend(root: HTMLElement, withDescs: boolean): void {
  root.replaceChildren();
  root.append(group('TX slots:'), ...TX_PAINTS.map(item));
  root.append(group('RX slots:'), ...RX_PAINTS.map(item));
  if (withDescs) root.append(group('Descriptors:'), ...DESC_PAINTS.map(item));
  const hands = document.createElement('span');
  hands.textContent =
    "head, cur, tail outside (the app's), hwcur, hwtail inside (the kernel's); blue arc: the app's slots; b buffer, # sequence number";
  root.append(group('Hands:'), hands);
}

export function buildLanesLegend(root: HTMLElement): void {
  root.replaceChildren();
  for (const st of Object.values(LANE_STYLE)) {
    if (st.label === 'failed' || st.label === 'starting') continue;
    const s = document.createElement('span');
    const i = document.createElement('i');
    i.style.background = st.fill;
    i.style.height = `${Math.max(2, Math.round(14 * st.height))}px`;
    s.append(i, st.label);
    root.append(s);
  }
}
