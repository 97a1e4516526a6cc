// Small SVG charts for reports, written by hand so a report needs no script or network to open: grouped
// histograms, grouped bars, and labelled scatter lines. Every chart is a self-contained <svg> string.

export interface Series {
  name: string;
  color: string;
  values: number[];
}

const W = 520;
const H = 260;
const M = { top: 44, right: 16, bottom: 44, left: 52 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (x: number) => (Number.isInteger(x) || Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(Math.abs(x) < 0.1 ? 3 : 2));

/** A formatter for ticks `step` apart from `from`: whole numbers where every tick is one, else one digit finer than the step. */
function tickFormat(from: number, step: number): (x: number) => string {
  if (Number.isInteger(from) && Number.isInteger(step)) return (x) => x.toFixed(0);
  const digits = Math.min(4, Math.max(1, Math.ceil(-Math.log10(Math.abs(step) || 1)) + 1));
  // Rounding can leave -0.00: print it as 0.
  return (x) => (Math.abs(x) < 0.5 * 10 ** -digits ? 0 : x).toFixed(digits);
}

/** A category's name broken into lines that fit `width` pixels (about 5.5 per character). */
function wrapped(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    const last = lines.at(-1);
    if (last !== undefined && (last.length + 1 + word.length) * 5.5 <= width) lines[lines.length - 1] = `${last} ${word}`;
    else lines.push(word);
  }
  return lines;
}

function frame(title: string, body: string, xLabel: string, yLabel: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" class="chart" role="img" aria-label="${esc(title)}">` +
    `<text x="${W / 2}" y="16" text-anchor="middle" class="title">${esc(title)}</text>` +
    body +
    `<text x="${M.left + (W - M.left - M.right) / 2}" y="${H - 6}" text-anchor="middle" class="axis">${esc(xLabel)}</text>` +
    `<text transform="translate(12 ${M.top + (H - M.top - M.bottom) / 2}) rotate(-90)" text-anchor="middle" class="axis">${esc(yLabel)}</text>` +
    '</svg>'
  );
}

function axes(x0: number, x1: number, y0: number, y1: number, ticks = 5): { sx: (x: number) => number; sy: (y: number) => number; grid: string } {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const sy = (y: number) => M.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;
  let grid = `<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" class="frame"/><line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" class="frame"/>`;
  const fy = tickFormat(y0, (y1 - y0) / ticks);
  const fx = tickFormat(x0, (x1 - x0) / ticks);
  for (let i = 0; i <= ticks; i++) {
    const y = y0 + ((y1 - y0) * i) / ticks;
    const x = x0 + ((x1 - x0) * i) / ticks;
    grid += `<text x="${M.left - 6}" y="${sy(y) + 4}" text-anchor="end" class="tick">${fy(y)}</text>`;
    grid += `<text x="${sx(x)}" y="${M.top + ph + 16}" text-anchor="middle" class="tick">${fx(x)}</text>`;
  }
  return { sx, sy, grid };
}

/** The series' names in a row under the title, above the plot. */
function legend(series: { name: string; color: string }[]): string {
  let x = M.left;
  return series
    .map((s) => {
      const item = `<rect x="${x}" y="24" width="10" height="10" fill="${s.color}"/><text x="${x + 14}" y="33" class="tick">${esc(s.name)}</text>`;
      x += 24 + s.name.length * 5.5;
      return item;
    })
    .join('');
}

/** Overlaid histograms of values in [lo, hi] (explanation scores: -1 to 1 by default). */
export function histogram(title: string, series: Series[], xLabel: string, lo = -0.2, hi = 1, bins = 12): string {
  const width = (hi - lo) / bins;
  const counts = series.map((s) => {
    const c = new Array<number>(bins).fill(0);
    for (const v of s.values) c[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)))]!++;
    return c;
  });
  // A multiple of the five ticks, so that every tick is a whole number of neurons.
  const max = Math.ceil(Math.max(1, ...counts.flat()) / 5) * 5;
  const { sx, sy, grid } = axes(lo, hi, 0, max);
  const barW = (sx(lo + width) - sx(lo)) / series.length;
  const bars = counts
    .flatMap((c, si) => c.map((n, b) => (n === 0 ? '' : `<rect x="${sx(lo + b * width) + si * barW}" y="${sy(n)}" width="${barW - 1}" height="${sy(0) - sy(n)}" fill="${series[si]!.color}"><title>${esc(series[si]!.name)}: ${n}</title></rect>`)))
    .join('');
  return frame(title, grid + bars + legend(series), xLabel, 'neurons');
}

/** Grouped bars: one group per category, one bar per series. */
export function bars(title: string, categories: string[], series: Series[], yLabel: string): string {
  const all = series.flatMap((s) => s.values);
  const lo = Math.min(0, ...all);
  const hi = Math.max(...all, lo + 1e-9) * 1.1;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sy = (y: number) => M.top + ph - ((y - lo) / (hi - lo)) * ph;
  const groupW = pw / categories.length;
  const barW = (groupW * 0.8) / series.length;
  let body = `<line x1="${M.left}" y1="${sy(0)}" x2="${M.left + pw}" y2="${sy(0)}" class="frame"/><line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" class="frame"/>`;
  const fy = tickFormat(lo, (hi - lo) / 4);
  for (let i = 0; i <= 4; i++) body += `<text x="${M.left - 6}" y="${sy(lo + ((hi - lo) * i) / 4) + 4}" text-anchor="end" class="tick">${fy(lo + ((hi - lo) * i) / 4)}</text>`;
  categories.forEach((c, ci) => {
    const cx = M.left + groupW * (ci + 0.5);
    body += `<text x="${cx}" y="${M.top + ph + 16}" text-anchor="middle" class="tick">${wrapped(c, groupW - 4)
      .map((line, i) => `<tspan x="${cx}" dy="${i === 0 ? 0 : 11}">${esc(line)}</tspan>`)
      .join('')}</text>`;
    series.forEach((s, si) => {
      const v = s.values[ci] ?? 0;
      const x = M.left + groupW * ci + groupW * 0.1 + si * barW;
      body += `<rect x="${x}" y="${Math.min(sy(v), sy(0))}" width="${barW - 2}" height="${Math.abs(sy(0) - sy(v))}" fill="${s.color}"><title>${esc(s.name)} ${esc(c)}: ${fmt(v)}</title></rect>`;
    });
  });
  return frame(title, body + legend(series), '', yLabel);
}

/**
 * Points joined in order, each with a label and optionally a vertical bar of ± `spread`: the tradeoff curve of a
 * sweep. `reference` draws a dashed horizontal line (the matched control).
 */
export function tradeoff(title: string, points: { x: number; y: number; label: string; spread?: number }[], xLabel: string, yLabel: string, reference?: { y: number; label: string }): string {
  const xs = points.map((p) => p.x);
  const ys = [...points.flatMap((p) => [p.y - (p.spread ?? 0), p.y + (p.spread ?? 0)]), ...(reference ? [reference.y] : [])];
  const pad = (lo: number, hi: number) => (hi - lo < 1e-9 ? [lo - 1, hi + 1] : [lo - (hi - lo) * 0.1, hi + (hi - lo) * 0.1]);
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const { sx, sy, grid } = axes(x0!, x1!, y0!, y1!);
  const line = `<polyline fill="none" stroke="#3060c0" stroke-width="2" points="${points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(' ')}"/>`;
  const bars = points
    .filter((p) => p.spread)
    .map((p) => `<line x1="${sx(p.x)}" x2="${sx(p.x)}" y1="${sy(p.y - p.spread!)}" y2="${sy(p.y + p.spread!)}" stroke="#3060c0" stroke-width="1"/>`)
    .join('');
  const ref = reference
    ? `<line x1="${sx(x0!)}" x2="${sx(x1!)}" y1="${sy(reference.y)}" y2="${sy(reference.y)}" stroke="#c09a30" stroke-dasharray="5 4"/><text x="${sx(x1!) - 4}" y="${sy(reference.y) - 4}" text-anchor="end" class="tick">${esc(reference.label)}</text>`
    : '';
  const dots = points
    .map((p) => {
      const right = sx(p.x) > W - 140;
      return `<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="4" fill="#3060c0"><title>${esc(p.label)}</title></circle><text x="${sx(p.x) + (right ? -6 : 6)}" y="${sy(p.y) - 6}" text-anchor="${right ? 'end' : 'start'}" class="tick">${esc(p.label)}</text>`;
    })
    .join('');
  return frame(title, grid + ref + bars + line + dots, xLabel, yLabel);
}
